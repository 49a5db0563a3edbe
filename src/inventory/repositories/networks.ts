// Network, router and router-interface records of a workspace.
import { sql, type Insertable, type Updateable } from 'kysely';
import type { InventoryDB } from '../schema.ts';
import type { Db, Page } from './index.ts';

const NETWORK_COLUMNS = ['name', 'description', 'state', 'vlan', 'subnet'] as const;
const ROUTER_COLUMNS = ['name', 'state', 'host'] as const;

export function networksRepository(db: Db) {
  const views = (workspaceId: number) =>
    db
      .selectFrom('networks')
      .select([...NETWORK_COLUMNS])
      .where('workspace_id', '=', workspaceId);
  return {
    list(workspaceId: number, page: Page) {
      let q = views(workspaceId).orderBy('name').limit(page.limit);
      if (page.marker) q = q.where('name', '>', page.marker);
      return q.execute();
    },
    one: (workspaceId: number, name: string) =>
      views(workspaceId).where('name', '=', name).executeTakeFirst(),
    /** The network as the API shows it, with its id, its row locked until the transaction ends. */
    lockView: (workspaceId: number, name: string) =>
      views(workspaceId).select('id').where('name', '=', name).forUpdate().executeTakeFirst(),
    /** Ids, states, subnets and VLANs of networks of the workspace, by name. */
    byNames: (workspaceId: number, names: string[]) =>
      db
        .selectFrom('networks')
        .select(['id', 'name', 'state', 'subnet', 'vlan'])
        .where('workspace_id', '=', workspaceId)
        .where('name', '=', (eb) => eb.fn.any(eb.val(names)))
        .execute(),
    /**
     * The lowest address of [first, last] that no NIC and no router interface of the network holds in this
     * statement's snapshot and no other transaction is taking: its advisory lock is taken (and kept to the end
     * of the transaction), the others' skipped, as leases.claim does for areas (and, as there, in address
     * order: scalar subqueries, index probes on vm_networks_address). linkIfFree then checks again.
     */
    freeAddress: async (id: number, first: number, last: number) => {
      const { rows } = await sql<{ ip: string }>`
        SELECT f.ip FROM (
          SELECT g.ip FROM generate_series(${first}::bigint, ${last}::bigint) AS g(ip)
          WHERE (SELECT 1 FROM vm_networks v WHERE v.network_id = ${id}::int
                   AND split_part(v.ip, '/', 1) = host('0.0.0.0'::inet + g.ip) LIMIT 1) IS NULL
            AND (SELECT 1 FROM router_interfaces r WHERE r.network_id = ${id}::int
                   AND split_part(r.ip, '/', 1) = host('0.0.0.0'::inet + g.ip) LIMIT 1) IS NULL
          OFFSET 0
        ) f
        WHERE pg_try_advisory_xact_lock(${-id}::int, (f.ip - 2147483648)::int)
        LIMIT 1`.execute(db);
      return rows[0] ? Number(rows[0].ip) : undefined;
    },
    /** Waits for an address's advisory lock (a router interface's, chosen by its user). */
    async lockAddress(id: number, ip: number) {
      await sql`SELECT pg_advisory_xact_lock(${-id}::int, ${ip - 2 ** 31}::int)`.execute(db);
    },
    async insert(row: Insertable<InventoryDB['networks']>) {
      await db.insertInto('networks').values(row).execute();
    },
    insertId: async (row: Insertable<InventoryDB['networks']>) =>
      (await db.insertInto('networks').values(row).returning('id').executeTakeFirstOrThrow()).id,
    /** Names of (up to `limit`) VMs with a NIC on the network. */
    vmsOn: async (id: number, limit: number) =>
      (
        await db
          .selectFrom('vm_networks')
          .innerJoin('vms', 'vms.id', 'vm_networks.vm_id')
          .select('vms.name')
          .where('vm_networks.network_id', '=', id)
          .orderBy('vms.name')
          .limit(limit)
          .execute()
      ).map((r) => r.name),
    /** The name of a router with an interface on the network, if any has one. */
    routerOn: async (id: number) =>
      (
        await db
          .selectFrom('router_interfaces')
          .innerJoin('routers', 'routers.id', 'router_interfaces.router_id')
          .select('routers.name')
          .where('router_interfaces.network_id', '=', id)
          .executeTakeFirst()
      )?.name,
    update: async (workspaceId: number, name: string, set: Updateable<InventoryDB['networks']>) =>
      (
        await db
          .updateTable('networks')
          .set(set)
          .where('workspace_id', '=', workspaceId)
          .where('name', '=', name)
          .executeTakeFirst()
      ).numUpdatedRows,
    remove: async (workspaceId: number, name: string, task?: string) => {
      let q = db.deleteFrom('networks').where('workspace_id', '=', workspaceId).where('name', '=', name);
      if (task) q = q.where('task', '=', task);
      return (await q.executeTakeFirst()).numDeletedRows;
    },
  };
}

export function routersRepository(db: Db) {
  const views = (workspaceId: number) =>
    db
      .selectFrom('routers')
      .select([...ROUTER_COLUMNS])
      .where('workspace_id', '=', workspaceId);
  return {
    list(workspaceId: number, page: Page) {
      let q = views(workspaceId).orderBy('name').limit(page.limit);
      if (page.marker) q = q.where('name', '>', page.marker);
      return q.execute();
    },
    one: (workspaceId: number, name: string) =>
      views(workspaceId).where('name', '=', name).executeTakeFirst(),
    idOf: (workspaceId: number, name: string) =>
      db
        .selectFrom('routers')
        .select('id')
        .where('workspace_id', '=', workspaceId)
        .where('name', '=', name)
        .executeTakeFirst(),
    async insert(row: Insertable<InventoryDB['routers']>) {
      await db.insertInto('routers').values(row).execute();
    },
    insertId: async (row: Insertable<InventoryDB['routers']>) =>
      (await db.insertInto('routers').values(row).returning('id').executeTakeFirstOrThrow()).id,
    /** The router as the API shows it, with its id, its row locked until the transaction ends. */
    lockView: (workspaceId: number, name: string) =>
      views(workspaceId).select('id').where('name', '=', name).forUpdate().executeTakeFirst(),
    /** The router as the API shows it, with its id. */
    view: (workspaceId: number, name: string) =>
      views(workspaceId).select('id').where('name', '=', name).executeTakeFirst(),
    update: async (workspaceId: number, name: string, set: Updateable<InventoryDB['routers']>) =>
      (
        await db
          .updateTable('routers')
          .set(set)
          .where('workspace_id', '=', workspaceId)
          .where('name', '=', name)
          .executeTakeFirst()
      ).numUpdatedRows,
    remove: async (workspaceId: number, name: string, task?: string) => {
      let q = db.deleteFrom('routers').where('workspace_id', '=', workspaceId).where('name', '=', name);
      if (task) q = q.where('task', '=', task);
      return (await q.executeTakeFirst()).numDeletedRows;
    },
    async removeAllOf(workspaceId: number) {
      await db.deleteFrom('routers').where('workspace_id', '=', workspaceId).execute();
    },
  };
}

export function interfacesRepository(db: Db) {
  const views = (routerId: number) =>
    db
      .selectFrom('router_interfaces')
      .innerJoin('networks', 'networks.id', 'router_interfaces.network_id')
      .select(['networks.name as network', 'router_interfaces.ip', 'networks.vlan', 'networks.subnet'])
      .where('router_interfaces.router_id', '=', routerId)
      .orderBy('networks.name');
  return {
    list: (routerId: number) => views(routerId).execute(),
    one: (routerId: number, network: string) =>
      views(routerId).where('networks.name', '=', network).executeTakeFirst(),
    async insert(row: { router_id: number; network_id: number; ip: string }) {
      await db.insertInto('router_interfaces').values(row).execute();
    },
    remove: async (routerId: number, workspaceId: number, network: string) =>
      (
        await db
          .deleteFrom('router_interfaces')
          .where('router_id', '=', routerId)
          .where('network_id', '=', (eb) =>
            eb
              .selectFrom('networks')
              .select('id')
              .where('workspace_id', '=', workspaceId)
              .where('name', '=', network),
          )
          .executeTakeFirst()
      ).numDeletedRows,
  };
}
