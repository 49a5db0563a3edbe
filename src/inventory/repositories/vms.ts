// VM records and their NICs (one per network, with the address inventory gave it and the MAC compute reported).
import { sql, type Updateable } from 'kysely';
import { jsonArrayFrom } from 'kysely/helpers/postgres';
import type { PlacedVm, Vm } from '../../lib/contracts/inventory.ts';
import type { InventoryDB } from '../schema.ts';
import type { Db } from './index.ts';

export function vmsRepository(db: Db) {
  /** VMs as the API shows them: each VM's NICs aggregated beside it (an index read per VM). */
  const viewQuery = () =>
    db
      .selectFrom('vms')
      .innerJoin('areas', 'areas.id', 'vms.area_id')
      .innerJoin('templates', 'templates.id', 'vms.template_id')
      .select((eb) => [
        'vms.name',
        'vms.description',
        'vms.ip',
        'vms.state',
        'vms.host',
        'vms.cpu',
        'vms.ram',
        'areas.name as area',
        'templates.name as template',
        'vms.security_groups',
        'vms.affinity_group',
        jsonArrayFrom(
          eb
            .selectFrom('vm_networks')
            .innerJoin('networks', 'networks.id', 'vm_networks.network_id')
            .select(['networks.name as network', 'vm_networks.ip', 'vm_networks.mac'])
            .whereRef('vm_networks.vm_id', '=', 'vms.id')
            .orderBy('networks.name'),
        ).as('interfaces'),
      ]);
  const withNetworks = <V extends { interfaces: { network: string }[] }>(v: V) => ({
    ...v,
    networks: v.interfaces.map((i) => i.network),
  });

  return {
    /** VMs of a workspace, by name: one query, so a page costs the same whatever the workspace holds. */
    async views(
      workspaceId: number,
      opts: { name?: string; marker?: string; limit?: number },
    ): Promise<Vm[]> {
      let q = viewQuery().where('vms.workspace_id', '=', workspaceId).orderBy('vms.name');
      if (opts.name !== undefined) q = q.where('vms.name', '=', opts.name);
      if (opts.marker) q = q.where('vms.name', '>', opts.marker);
      if (opts.limit) q = q.limit(opts.limit);
      return (await q.execute()).map(withNetworks);
    },
    /** Every VM placed on the host, of every workspace, each with its workspace (index vms_host). */
    async onHost(host: string): Promise<PlacedVm[]> {
      const vms = await viewQuery()
        .innerJoin('workspaces', 'workspaces.id', 'vms.workspace_id')
        .select('workspaces.name as workspace')
        .where('vms.host', '=', host)
        .orderBy('workspaces.name')
        .orderBy('vms.name')
        .execute();
      return vms.map(withNetworks);
    },
    /**
     * Inserts a VM with the first free address of its area from `hint` on, leased to it, in one statement:
     * the address is claimed as leases.claim does (try-lock, in order, ON CONFLICT DO NOTHING), and the VM
     * (its id drawn first, so the lease can name it) is inserted only if the lease was. Answers the VM's id
     * and address; `candidate` alone: a commit took the address since the statement began (try again);
     * nothing: no address is free. A taken name fails the statement (a unique violation).
     */
    async insertWithAddress(
      row: {
        workspace_id: number;
        name: string;
        description: string;
        state: Vm['state'];
        area_id: number;
        template_id: number;
        cpu: number;
        ram: number;
        /** JSON text of the group names. */
        security_groups: string;
        affinity_group: string | null;
        task: string;
      },
      range: { first: number; last: number; gateway: number; hint: number },
    ): Promise<{ candidate?: number; id?: number; ip?: string }> {
      const hint = Math.min(Math.max(range.hint, range.first), range.last);
      const { rows } = await sql<{ candidate: string | null; id: number | null; ip: string | null }>`
        WITH vid AS (
          SELECT nextval(pg_get_serial_sequence('vms', 'id'))::int AS id
        ), c AS (
          SELECT f.ip FROM (
            SELECT g.ip FROM (
              SELECT generate_series(${hint}::bigint, ${range.last}::bigint) AS ip
              UNION ALL
              SELECT generate_series(${range.first}::bigint, ${hint - 1}::bigint)
            ) g
            WHERE g.ip <> ${range.gateway}::bigint
              AND (SELECT 1 FROM ip_leases l WHERE l.area_id = ${row.area_id}::int AND l.ip = g.ip) IS NULL
            OFFSET 0
          ) f
          WHERE pg_try_advisory_xact_lock(${row.area_id}::int, (f.ip - 2147483648)::int)
          LIMIT 1
        ), lease AS (
          INSERT INTO ip_leases (area_id, ip, vm_id, task)
          SELECT ${row.area_id}::int, c.ip, vid.id, ${row.task}::text FROM c, vid
          ON CONFLICT (area_id, ip) DO NOTHING
          RETURNING ip, vm_id
        ), vm AS (
          INSERT INTO vms (id, workspace_id, name, description, ip, state, area_id, template_id, cpu, ram,
                           security_groups, affinity_group, host, task)
          SELECT lease.vm_id, ${row.workspace_id}::int, ${row.name}::text, ${row.description}::text,
                 host('0.0.0.0'::inet + lease.ip), ${row.state}::text, ${row.area_id}::int,
                 ${row.template_id}::int, ${row.cpu}::int, ${row.ram}::double precision,
                 ${row.security_groups}::jsonb, ${row.affinity_group}::text, NULL, ${row.task}::text
          FROM lease
          RETURNING id, ip
        )
        SELECT (SELECT ip FROM c) AS candidate, (SELECT id FROM vm) AS id, (SELECT ip FROM vm) AS ip`.execute(
        db,
      );
      const r = rows[0];
      return {
        ...(r?.candidate != null ? { candidate: Number(r.candidate) } : {}),
        ...(r?.id != null && r.ip != null ? { id: r.id, ip: r.ip } : {}),
      };
    },
    insert: async (row: {
      workspace_id: number;
      name: string;
      description: string;
      ip: string | null;
      state: Vm['state'];
      area_id: number;
      template_id: number;
      cpu: number;
      ram: number;
      host: string | null;
      task: string | null;
      security_groups: string;
      affinity_group: string | null;
    }) => (await db.insertInto('vms').values(row).returning('id').executeTakeFirstOrThrow()).id,
    /** The workspace's VMs that name an anti-affinity group, by group then name. */
    grouped: (workspaceId: number) =>
      db
        .selectFrom('vms')
        .select(['name', 'host', 'affinity_group'])
        .where('workspace_id', '=', workspaceId)
        .where('affinity_group', 'is not', null)
        .orderBy('affinity_group')
        .orderBy('name')
        .execute(),
    /** The VM's id. */
    idOf: async (workspaceId: number, name: string) =>
      (
        await db
          .selectFrom('vms')
          .select('id')
          .where('workspace_id', '=', workspaceId)
          .where('name', '=', name)
          .executeTakeFirst()
      )?.id,
    exists: async (workspaceId: number, name: string) =>
      (await db
        .selectFrom('vms')
        .select('id')
        .where('workspace_id', '=', workspaceId)
        .where('name', '=', name)
        .executeTakeFirst()) !== undefined,
    /** The VM's id, its row locked until the transaction ends. */
    lock: (workspaceId: number, name: string) =>
      db
        .selectFrom('vms')
        .select('id')
        .where('workspace_id', '=', workspaceId)
        .where('name', '=', name)
        .forUpdate()
        .executeTakeFirst(),
    async update(id: number, set: Updateable<InventoryDB['vms']>) {
      await db.updateTable('vms').set(set).where('id', '=', id).execute();
    },
    /** Deletes a workspace's VM (only the one `task` made, when given); answers how many went. */
    remove: async (workspaceId: number, name: string, task?: string) => {
      let q = db.deleteFrom('vms').where('workspace_id', '=', workspaceId).where('name', '=', name);
      if (task) q = q.where('task', '=', task);
      return (await q.executeTakeFirst()).numDeletedRows;
    },
    async removeAllOf(workspaceId: number) {
      await db.deleteFrom('vms').where('workspace_id', '=', workspaceId).execute();
    },
    /** The networks a VM has a NIC on. */
    linkedNetworks: async (vmId: number) =>
      new Set(
        (await db.selectFrom('vm_networks').select('network_id').where('vm_id', '=', vmId).execute()).map(
          (r) => r.network_id,
        ),
      ),
    async link(vmId: number, networkId: number, ip: string | null) {
      await db.insertInto('vm_networks').values({ vm_id: vmId, network_id: networkId, ip }).execute();
    },
    /** Links the VM to the network with this address (address/prefix) unless a NIC or a router interface holds
     * the address now (read afresh, after the caller took its lock); answers whether it did. */
    linkIfFree: async (vmId: number, networkId: number, cidr: string) => {
      const bare = cidr.split('/')[0];
      const { rows } = await sql`
        INSERT INTO vm_networks (vm_id, network_id, ip)
        SELECT ${vmId}::int, ${networkId}::int, ${cidr}::text
        WHERE NOT EXISTS (SELECT 1 FROM vm_networks v WHERE v.network_id = ${networkId}::int
                            AND split_part(v.ip, '/', 1) = ${bare}::text)
          AND NOT EXISTS (SELECT 1 FROM router_interfaces r WHERE r.network_id = ${networkId}::int
                            AND split_part(r.ip, '/', 1) = ${bare}::text)
        RETURNING vm_id`.execute(db);
      return rows.length > 0;
    },
    /** Removes the VM's NICs on networks other than `keep`. */
    async unlinkOthers(vmId: number, keep: number[]) {
      let del = db.deleteFrom('vm_networks').where('vm_id', '=', vmId);
      if (keep.length) del = del.where('network_id', 'not in', keep);
      await del.execute();
    },
    /** Sets a NIC's address and MAC; answers how many NICs changed (0: not on that network). */
    setNic: async (vmId: number, networkId: number, set: { ip?: string | null; mac?: string }) =>
      (
        await db
          .updateTable('vm_networks')
          .set(set)
          .where('vm_id', '=', vmId)
          .where('network_id', '=', networkId)
          .executeTakeFirst()
      ).numUpdatedRows,
  };
}
