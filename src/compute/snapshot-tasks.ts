// The vm SNAPSHOT task and its rollback (src/compute/snapshots.ts does the work on the host).
import type { VmRollback, VmTask } from '../lib/contracts/messages.ts';
import type { Variant } from '../lib/handlers.ts';
import type { ComputeContext } from './context.ts';
import { setRowState } from './power.ts';
import { adoptSnapshots, deleteSnapshot, revertSnapshot, takeSnapshot } from './snapshots.ts';
import { followUp, type Outcome } from './tasks.ts';
import { hostOf, portsOf, publicPortOf, vmByName } from './vms.ts';

type Deps = Pick<ComputeContext, 'db' | 'catalogue' | 'hypervisor' | 'storage' | 'snapshotMetadata'>;

async function vmOf(d: Deps, t: { owner: string; name: string }) {
  const vm = await vmByName(d, t.owner, t.name);
  if (!vm) throw new Error(`vm ${t.owner}/${t.name} is not on any host`);
  return vm;
}

/** Take, revert to or delete a snapshot. A revert that leaves the VM running has its ports made again by the
 * network service (libvirt may have started a new QEMU: new OVS ports, its public port a new OpenFlow one). */
export async function snapshotTask(t: Variant<VmTask, 'vm SNAPSHOT'>, d: Deps): Promise<Outcome> {
  const vm = await vmOf(d, t);
  if (t.action === 'create') {
    const { host, running } = await takeSnapshot(d, vm, t.snapshot);
    return { result: { status: 'successful', host: host.name, snapshot_running: running } };
  }
  if (t.action === 'delete') {
    const host = await deleteSnapshot(d, vm, t.snapshot);
    return { result: { status: 'successful', host: host.name } };
  }
  const { host, running } = await revertSnapshot(d, vm, t.snapshot);
  return {
    result: { status: 'successful', host: host.name, state: running ? 'U' : 'D', network_pending: running },
    network: running
      ? {
          ...followUp(t),
          method: 'POST',
          host: host.name,
          interfaces: portsOf(vm.nics),
          public: publicPortOf(vm),
        }
      : undefined,
  };
}

/** A snapshot that could not be taken is deleted (whatever was made of it); after a failed revert or delete
 * the record learns the power state the host reports. */
export async function undoSnapshot(t: Variant<VmRollback, 'vm SNAPSHOT'>, d: Deps): Promise<Outcome> {
  const vm = await vmByName(d, t.owner, t.name);
  if (!vm) return { result: { status: 'successful', rollback: true } };
  if (t.action === 'create') {
    await deleteSnapshot(d, vm, t.snapshot);
    return { result: { status: 'successful', rollback: true } };
  }
  const host = await hostOf(d, vm.host);
  await adoptSnapshots(d, vm, host);
  const s = await d.hypervisor.state(host.libvirt_uri, vm.domain);
  if (s === undefined) return { result: { status: 'successful', rollback: true } };
  const running = s === 'running' || s === 'paused';
  await setRowState(d, vm, running ? 'running' : 'stopped');
  return { result: { status: 'successful', rollback: true, state: running ? 'U' : 'D' } };
}
