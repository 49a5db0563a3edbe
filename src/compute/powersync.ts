// The power state a VM's record shows is what its host reports (DESIGN "VM life after create"): a guest that
// powers itself off (poweroff typed in it, a kernel panic) is D, a domain started by hand on its host is U.
// One `virsh list --all` per up host per pass. Only VMs at rest (running, stopped) are looked at, and each
// change is a conditional update of compute's record, so a power task or a failover at work on a VM wins.
import type { ComputeContext } from './context.ts';

export interface PowerChange {
  vm: string;
  from: string;
  to: 'running' | 'stopped';
}

export async function syncPowerStates(
  ctx: Pick<ComputeContext, 'db' | 'hypervisor' | 'records' | 'log'>,
): Promise<PowerChange[]> {
  const changes: PowerChange[] = [];
  const hosts = await ctx.db.selectFrom('hosts').selectAll().where('up', '=', true).execute();
  for (const h of hosts) {
    const vms = await ctx.db
      .selectFrom('vms')
      .select(['id', 'workspace', 'name', 'domain', 'state'])
      .where('host', '=', h.name)
      .where('state', 'in', ['running', 'stopped'])
      .execute();
    if (!vms.length) continue;
    let states;
    try {
      states = await ctx.hypervisor.states(h.libvirt_uri);
    } catch (e) {
      ctx.log.warn({ err: e, host: h.name }, 'power sync could not read host');
      continue;
    }
    for (const vm of vms) {
      const s = states.get(vm.domain);
      // A domain missing from its host is the orphan reconciler's and failover's business, not a power state.
      if (s === undefined) continue;
      const to = s === 'running' || s === 'paused' ? 'running' : 'stopped';
      if (to === vm.state) continue;
      const moved = await ctx.db
        .updateTable('vms')
        .set({ state: to })
        .where('id', '=', vm.id)
        .where('state', '=', vm.state)
        .executeTakeFirst();
      if (!moved.numUpdatedRows) continue;
      const name = `${vm.workspace}/${vm.name}`;
      changes.push({ vm: name, from: vm.state, to });
      ctx.log.warn({ vm: name, host: h.name, domain: s }, `VM found ${to} on its host: record updated`);
      try {
        await ctx.records.setPowerState(vm.workspace, vm.name, to === 'running' ? 'U' : 'D');
      } catch (e) {
        // Compute's record moved already; set it back so the next pass tells inventory again.
        await ctx.db.updateTable('vms').set({ state: vm.state }).where('id', '=', vm.id).execute();
        ctx.log.warn({ err: e, vm: name }, 'power state not written to inventory; will retry');
      }
    }
  }
  return changes;
}

export function startPowerSync(
  ctx: Pick<ComputeContext, 'db' | 'hypervisor' | 'records' | 'log'>,
  intervalSeconds: number,
) {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  let stopped = false;
  const tick = () => {
    running = syncPowerStates(ctx)
      .catch((e) => ctx.log.warn({ err: e }, 'power sync pass failed'))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, intervalSeconds * 1000);
      });
  };
  timer = setTimeout(tick, intervalSeconds * 1000);
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
