// VM records and their NICs (one per network, with the address inventory gave it and the MAC compute reported).
import type { Updateable } from 'kysely';
import type { Vm } from '../../lib/contracts/inventory.ts';
import type { InventoryDB } from '../schema.ts';
import type { Db } from './index.ts';

export function vmsRepository(db: Db) {
  return {
    /** VMs of a workspace as the API shows them, by name. */
    async views(
      workspaceId: number,
      opts: { name?: string; marker?: string; limit?: number },
    ): Promise<Vm[]> {
      let q = db
        .selectFrom('vms')
        .innerJoin('areas', 'areas.id', 'vms.area_id')
        .innerJoin('templates', 'templates.id', 'vms.template_id')
        .select([
          'vms.id',
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
        ])
        .where('vms.workspace_id', '=', workspaceId)
        .orderBy('vms.name');
      if (opts.name !== undefined) q = q.where('vms.name', '=', opts.name);
      if (opts.marker) q = q.where('vms.name', '>', opts.marker);
      if (opts.limit) q = q.limit(opts.limit);
      const vms = await q.execute();
      if (!vms.length) return [];
      const nets = await db
        .selectFrom('vm_networks')
        .innerJoin('networks', 'networks.id', 'vm_networks.network_id')
        .select(['vm_networks.vm_id', 'networks.name as network', 'vm_networks.ip', 'vm_networks.mac'])
        .where(
          'vm_networks.vm_id',
          'in',
          vms.map((v) => v.id),
        )
        .orderBy('networks.name')
        .execute();
      return vms.map(({ id, ...v }) => {
        const mine = nets.filter((n) => n.vm_id === id);
        return {
          ...v,
          networks: mine.map((n) => n.network),
          interfaces: mine.map(({ network, ip, mac }) => ({ network, ip, mac })),
        };
      });
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
