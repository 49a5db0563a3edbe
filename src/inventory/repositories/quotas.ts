// Quotas (migration 014): the limits an admin set per workspace, and what a workspace uses: counted from its
// records for the views, and kept as counters (migration 019, quota_usage and area_usage) that triggers hold
// equal to the records, for the check of a create (one conditional UPDATE at the end of its accept).
import { sql } from 'kysely';
import type { Db } from './index.ts';

export const QUOTA_NAMES = ['vms', 'vcpus', 'ram', 'disk', 'networks', 'routers', 'snapshots'] as const;
export type QuotaName = (typeof QUOTA_NAMES)[number];
export type Figures = Record<QuotaName, number>;
export type Overrides = Record<QuotaName, number | null>;

/** The workspace's VM snapshots (issue 15 item 5 records), for the `snapshots` quota. */
export async function countSnapshots(db: Db, workspaceId: number): Promise<number> {
  const r = await db
    .selectFrom('vm_snapshots')
    .innerJoin('vms', 'vms.id', 'vm_snapshots.vm_id')
    .select((e) => e.fn.countAll<string>().as('n'))
    .where('vms.workspace_id', '=', workspaceId)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

/** A share a create takes at the end of its accept: how much of each counted quota, and of its area. */
export interface Take {
  delta: Omit<Figures, 'snapshots'>;
  limit: Omit<Figures, 'snapshots'>;
  /** The VLAN ceiling, checked against the workspace's networks when the create makes one. */
  vlans?: number;
  /** The area the create holds a public address in, and the ceiling of those. */
  area?: { id: number; limit: number };
}

export function quotasRepository(db: Db) {
  return {
    /**
     * The usage triggers stand aside for the rest of the transaction: its accept takes its share itself (take),
     * as its last statement, so that the counter row is locked only from there to the commit.
     */
    standAside: async () => {
      await sql`SELECT set_config('kloudak.share_taken', 'on', true)`.execute(db);
    },

    /**
     * Adds the deltas to the workspace's counters (and a public address to its area's) if every growing one
     * stays within its limit, in one statement: the UPDATE waits for a concurrent take of the workspace to
     * commit and then checks the committed figures. False (nothing taken) when one would pass its limit.
     */
    async take(workspaceId: number, t: Take): Promise<boolean> {
      const d = t.delta;
      const l = t.limit;
      const within = (col: string, delta: number, limit: number) =>
        sql`(${delta}::numeric <= 0 OR ${sql.ref(col)} + ${delta}::numeric <= ${limit}::numeric)`;
      const vlans = t.vlans === undefined ? sql`true` : sql`networks + 1 <= ${t.vlans}::numeric`;
      const r = await sql<{ u: string | number; a: string | number }>`
        WITH u AS (
          UPDATE quota_usage SET
            vms = vms + ${d.vms}::bigint, vcpus = vcpus + ${d.vcpus}::bigint, ram = ram + ${d.ram}::numeric,
            disk = disk + ${d.disk}::numeric, networks = networks + ${d.networks}::bigint,
            routers = routers + ${d.routers}::bigint
          WHERE workspace_id = ${workspaceId}::int
            AND ${within('vms', d.vms, l.vms)} AND ${within('vcpus', d.vcpus, l.vcpus)}
            AND ${within('ram', d.ram, l.ram)} AND ${within('disk', d.disk, l.disk)}
            AND ${within('networks', d.networks, l.networks)} AND ${within('routers', d.routers, l.routers)}
            AND ${vlans}
          RETURNING 1
        ), a AS (
          INSERT INTO area_usage AS a (workspace_id, area_id, vms)
            SELECT ${workspaceId}::int, ${t.area?.id ?? null}::int, 1
            WHERE ${t.area !== undefined} AND EXISTS (SELECT 1 FROM u) AND 1 <= ${t.area?.limit ?? 0}::numeric
          ON CONFLICT (workspace_id, area_id) DO UPDATE SET vms = a.vms + 1
            WHERE a.vms + 1 <= ${t.area?.limit ?? 0}::numeric
          RETURNING 1
        )
        SELECT (SELECT count(*) FROM u) AS u, (SELECT count(*) FROM a) AS a`.execute(db);
      const row = r.rows[0];
      return Number(row?.u) === 1 && (t.area === undefined || Number(row?.a) === 1);
    },

    /** The counters (what the check of a create sees), and the public addresses held in one area. */
    async counted(workspaceId: number, areaId?: number) {
      const r = await sql<Record<Exclude<QuotaName, 'snapshots'> | 'in_area', string | number>>`
        SELECT u.vms, u.vcpus, u.ram, u.disk, u.networks, u.routers,
          coalesce((SELECT vms FROM area_usage WHERE workspace_id = u.workspace_id
            AND area_id = ${areaId ?? null}::int), 0) AS in_area
        FROM quota_usage u WHERE u.workspace_id = ${workspaceId}::int`.execute(db);
      const row = r.rows[0];
      const n = (k: keyof NonNullable<typeof row>) => Number(row?.[k] ?? 0);
      return {
        used: {
          vms: n('vms'),
          vcpus: n('vcpus'),
          ram: n('ram'),
          disk: n('disk'),
          networks: n('networks'),
          routers: n('routers'),
        },
        inArea: n('in_area'),
      };
    },

    /**
     * Locks the workspace's row to the end of the transaction: snapshot creates of one workspace queue here,
     * so each counts what the one before it committed (NO KEY UPDATE: inserts referencing the workspace,
     * which take KEY SHARE, are not held up). Snapshots are few; the counted quotas use take instead.
     */
    lockWorkspace: (workspaceId: number) =>
      db
        .selectFrom('workspaces')
        .select('id')
        .where('id', '=', workspaceId)
        .forNoKeyUpdate()
        .executeTakeFirst(),

    /** The workspace's VM snapshots, counted. */
    snapshots: (workspaceId: number) => countSnapshots(db, workspaceId),

    /** The limits an admin set (null: the configured default); undefined when none was ever set. */
    overrides: (workspaceId: number) =>
      db
        .selectFrom('quotas')
        .select([...QUOTA_NAMES])
        .where('workspace_id', '=', workspaceId)
        .executeTakeFirst(),

    async set(workspaceId: number, values: Partial<Overrides>) {
      await db
        .insertInto('quotas')
        .values({ workspace_id: workspaceId, ...values })
        .onConflict((oc) => oc.column('workspace_id').doUpdateSet({ ...values, updated_at: new Date() }))
        .execute();
    },

    /**
     * What the workspace's records hold: every record counts until it is gone (a VM being deleted too), a VM
     * by its own size (its template's, or what a resize made it: written when the resize is accepted).
     */
    async used(workspaceId: number): Promise<Figures> {
      const ws = sql`${workspaceId}::int`;
      const r = await sql<Record<Exclude<QuotaName, 'snapshots'>, string | number>>`
        SELECT
          v.vms, v.vcpus, v.ram, v.disk,
          (SELECT count(*) FROM networks WHERE workspace_id = ${ws}) AS networks,
          (SELECT count(*) FROM routers WHERE workspace_id = ${ws}) AS routers
        FROM (
          SELECT count(*) AS vms, coalesce(sum(vm.cpu), 0) AS vcpus, coalesce(sum(vm.ram), 0) AS ram,
                 coalesce(sum(t.disk), 0) AS disk
          FROM vms vm JOIN templates t ON t.id = vm.template_id WHERE vm.workspace_id = ${ws}
        ) v`.execute(db);
      const row = r.rows[0];
      return {
        vms: Number(row?.vms ?? 0),
        vcpus: Number(row?.vcpus ?? 0),
        ram: Number(row?.ram ?? 0),
        disk: Number(row?.disk ?? 0),
        networks: Number(row?.networks ?? 0),
        routers: Number(row?.routers ?? 0),
        snapshots: await countSnapshots(db, workspaceId),
      };
    },

    /** Public addresses (VMs) the workspace holds per area, by area name, for every area. */
    async addressesByArea(workspaceId: number) {
      const rows = await db
        .selectFrom('areas')
        .leftJoin('vms', (j) =>
          j.onRef('vms.area_id', '=', 'areas.id').on('vms.workspace_id', '=', workspaceId),
        )
        .select(['areas.name', (e) => e.fn.count<string>('vms.id').as('n')])
        .groupBy('areas.name')
        .orderBy('areas.name')
        .execute();
      return rows.map((r) => ({ area: r.name, used: Number(r.n) }));
    },
  };
}
