// Failover's placement: each VM of a down host gets a new host of its area, chosen by placement (never a
// down host), claimed with a conditional update so that of several compute processes one wins. Anti-affinity
// groups are kept apart while the area has room; else the VM restarts anyway and the log warns (affinity.ts).
import { placeApart, sharedHostWarning } from '../affinity.ts';
import type { ComputeContext } from '../context.ts';
import type { VmRow } from '../vms.ts';
import type { Notices } from './notices.ts';

export interface Relocation {
  /** Claims a new host for every running (or restarting) VM of a down host. */
  relocateAll(): Promise<void>;
}

export function createRelocation(d: {
  db: ComputeContext['db'];
  placement: ComputeContext['placement'];
  log: ComputeContext['log'];
  notices: Pick<Notices, 'warnOnce'>;
  /** Where each moved VM came from (for its notice). */
  movedFrom: Map<number, string>;
}): Relocation {
  const downHosts = async () => d.db.selectFrom('hosts').selectAll().where('up', '=', false).execute();

  /** Claims a new host for one VM of a down host (a conditional update: one compute process wins). */
  async function relocate(vm: VmRow, area: string, down: string[]): Promise<void> {
    let target: string;
    let joins: string[];
    try {
      // Availability first: the group is kept apart while a host has room, else the VM restarts anyway.
      ({ host: target, joins } = await placeApart(
        d.db,
        d.placement,
        { area, memoryMib: vm.memory_mib, vcpus: vm.vcpus, exclude: down, domain: vm.domain },
        { workspace: vm.workspace, group: vm.affinity_group, self: vm.id },
      ));
    } catch (e) {
      d.notices.warnOnce(
        `place ${vm.id}`,
        { vm: `${vm.workspace}/${vm.name}`, err: (e as Error).message },
        'no host to restart the VM on yet; will retry',
      );
      return;
    }
    const claimed = await d.db
      .updateTable('vms')
      .set({ host: target, state: 'restarting' })
      .where('id', '=', vm.id)
      .where('host', '=', vm.host)
      .where('state', '=', vm.state)
      .executeTakeFirst();
    if (!claimed.numUpdatedRows) return;
    d.movedFrom.set(vm.id, vm.host);
    if (vm.affinity_group && joins.length)
      d.log.warn(
        { vm: `${vm.workspace}/${vm.name}`, group: vm.affinity_group, host: target, with: joins },
        sharedHostWarning(vm.affinity_group, { host: target, joins }),
      );
    d.log.warn(
      { vm: `${vm.workspace}/${vm.name}`, from: vm.host, to: target },
      'restarting the VM of a failed host on another host',
    );
  }

  return {
    async relocateAll() {
      const down = await downHosts();
      if (!down.length) return;
      const downNames = down.map((h) => h.name);
      const vms = await d.db
        .selectFrom('vms')
        .selectAll()
        .where('host', 'in', downNames)
        .where('state', 'in', ['running', 'restarting'])
        .orderBy('id')
        .execute();
      for (const vm of vms) await relocate(vm, down.find((h) => h.name === vm.host)!.area, downNames);
    },
  };
}
