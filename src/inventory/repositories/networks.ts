// Network, router and router-interface records of a workspace.
import type { Insertable, Updateable } from 'kysely';
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
    /** Ids and subnets of networks of the workspace, by name. */
    byNames: (workspaceId: number, names: string[]) =>
      db
        .selectFrom('networks')
        .select(['id', 'name', 'subnet'])
        .where('workspace_id', '=', workspaceId)
        .where('name', 'in', names)
        .execute(),
    /** Locks a network's row until the transaction ends (one address handed out at a time per network). */
    async lock(id: number) {
      await db.selectFrom('networks').select('id').where('id', '=', id).forUpdate().execute();
    },
    /** Addresses (address/prefix or address) that VMs and router interfaces hold on a network. */
    usedIps: async (id: number) => [
      ...(await db.selectFrom('vm_networks').select('ip').where('network_id', '=', id).execute()),
      ...(await db.selectFrom('router_interfaces').select('ip').where('network_id', '=', id).execute()),
    ],
    async insert(row: Insertable<InventoryDB['networks']>) {
      await db.insertInto('networks').values(row).execute();
    },
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
