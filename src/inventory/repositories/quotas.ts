// Quotas (migration 014): the limits an admin set per workspace, and what a workspace uses: counted from its
// records for the views, and kept as counters (migration 019, quota_usage and area_usage) that triggers hold
// equal to the records, for the check of a create (one conditional UPDATE at its accept's commit).
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

/** A share a create takes at its accept's commit: how much of each counted quota, and of its area. */
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
     * The usage triggers stand aside for the rest of the transaction: its accept takes its share itself, at
     * its commit (its journal row names it: migration 019). Answers the limits an admin set, as overrides
     * does, in the same statement (one round trip less in every create).
     */
    standAside: async (workspaceId: number): Promise<Overrides | undefined> => {
      const r = await sql<Overrides & { found: boolean }>`
        SELECT set_config('kloudak.share_taken', 'on', true) AS aside, q.workspace_id IS NOT NULL AS found,
          q.vms, q.vcpus, q.ram, q.disk, q.networks, q.routers, q.snapshots
        FROM (SELECT 1) one LEFT JOIN quotas q ON q.workspace_id = ${workspaceId}::int`.execute(db);
      const row = r.rows[0];
      if (!row?.found) return undefined;
      const own = {} as Overrides;
      for (const q of QUOTA_NAMES) own[q] = row[q] === null ? null : Number(row[q]);
      return own;
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

    async set(workspaceId: number, given: Partial<Overrides>) {
      // Only quota columns, whatever else the object carries.
      const values = Object.fromEntries(QUOTA_NAMES.filter((q) => q in given).map((q) => [q, given[q]]));
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
