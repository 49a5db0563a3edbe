// A VM's snapshots on its host (issue 15 item 5): libvirt internal snapshots of its qcow2 overlay, so their
// data lives in the disk on the shared pool. libvirt keeps each snapshot's metadata (its XML) per host, so the
// XML is saved beside the disk too (<vm dir>/snapshots/<name>.xml): a VM restarted on another host by
// failover, or moved live (libvirt refuses to migrate a domain that has snapshot metadata), has its
// snapshots redefined there from those files (adoptSnapshots). Every step looks first, so a redelivered
// task finishes the job instead of doing it twice.
import { posix } from 'node:path';
import type { ComputeContext } from './context.ts';
import { setRowState } from './power.ts';
import { hostOf, type VmRow } from './vms.ts';

type Deps = Pick<ComputeContext, 'catalogue' | 'hypervisor' | 'storage' | 'snapshotMetadata'>;
type HostRow = Awaited<ReturnType<typeof hostOf>>;

/** Where a VM's snapshots' XML is kept on the pool. */
export const snapshotDir = (vm: Pick<VmRow, 'dir'>) => posix.join(vm.dir, 'snapshots');
const xmlFile = (vm: Pick<VmRow, 'dir'>, snapshot: string) => posix.join(snapshotDir(vm), `${snapshot}.xml`);

// The same rule as the contract's SnapshotName: a virsh argument and a file name, never an option or a path.
const SNAPSHOT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
function checkName(snapshot: string): string {
  if (!SNAPSHOT_NAME.test(snapshot)) throw new Error(`refusing snapshot name ${JSON.stringify(snapshot)}`);
  return snapshot;
}

/** The snapshot XML's top-level state: running (with memory: reverts running) or stopped. */
// The first <state> is the snapshot's own (name, description, state, creationTime, ..., then the domain).
export const takenRunning = (xml: string) =>
  /<state>(running|paused)<\/state>/.test(/<state>[a-z ]+<\/state>/.exec(xml)?.[0] ?? '');
const createdAt = (xml: string) => Number(/<creationTime>(\d+)<\/creationTime>/.exec(xml)?.[1] ?? 0);

/** The VM as the snapshot's domain XML holds it: its size and its NICs' MACs (libvirt writes memory in KiB). */
export function heldBy(xml: string): { memoryMib: number; vcpus: number; macs: string[] } {
  // The <domain> only: a running snapshot also carries an <inactiveDomain> with the same NICs.
  const start = xml.indexOf('<domain ');
  const domain = xml.slice(start, xml.indexOf('</domain>', start));
  return {
    memoryMib: Math.round(Number(/<memory unit='KiB'>(\d+)<\/memory>/.exec(domain)?.[1] ?? 0) / 1024),
    vcpus: Number(/<vcpu[^>]*>(\d+)<\/vcpu>/.exec(domain)?.[1] ?? 0),
    macs: [...domain.matchAll(/<mac address='([0-9a-fA-F:]+)'\/>/g)].map((m) => m[1].toLowerCase()).sort(),
  };
}

/**
 * Why a revert to the snapshot would leave the VM other than its records say, if it would: libvirt brings
 * back the domain definition the snapshot holds, so a VM resized or moved between networks since would come
 * back at its old size or with its old NICs while inventory, quotas and the network service say otherwise.
 */
export function revertMismatch(
  vm: Pick<VmRow, 'memory_mib' | 'vcpus' | 'nics'>,
  xml: string,
): string | undefined {
  const then = heldBy(xml);
  const macs = vm.nics.map((n) => n.mac.toLowerCase()).sort();
  if (then.memoryMib !== vm.memory_mib || then.vcpus !== vm.vcpus)
    return `it holds the VM at ${then.memoryMib} MiB and ${then.vcpus} vCPUs, the VM now has ${vm.memory_mib} MiB and ${vm.vcpus}: resize it back first`;
  if (then.macs.join() !== macs.join())
    return `it holds other NICs (${then.macs.join(', ')}) than the VM has now (${macs.join(', ')}): its networks changed since; put them back first`;
  return undefined;
}

async function poolPath(d: Deps, vm: VmRow): Promise<string> {
  const pool = await d.catalogue.pool(vm.pool);
  if (!pool) throw new Error(`pool ${vm.pool} is not in the catalogue`);
  return pool.path;
}

/** Saves the XML of every snapshot libvirt knows of the VM on `host` beside its disk (after a snapshot is
 * taken or deleted: a deletion changes its children's parent). */
export async function saveSnapshots(d: Deps, vm: VmRow, host: HostRow): Promise<string[]> {
  const pool = await poolPath(d, vm);
  const names = await d.hypervisor.snapshots(host.libvirt_uri, vm.domain);
  for (const name of names)
    await d.storage.writeVmFile(
      host.address,
      pool,
      xmlFile(vm, checkName(name)),
      await d.snapshotMetadata.xml(host.address, host.libvirt_uri, vm.domain, name),
    );
  return names;
}

/** Makes libvirt on `host` know every snapshot saved beside the VM's disk that it does not know yet (oldest
 * first: a snapshot's parent must be known before it). Answers how many it redefined. */
export async function adoptSnapshots(d: Deps, vm: VmRow, host: HostRow): Promise<number> {
  const saved = await d.storage.readVmFiles(host.address, await poolPath(d, vm), snapshotDir(vm), '.xml');
  if (!saved.length) return 0;
  const known = new Set(await d.hypervisor.snapshots(host.libvirt_uri, vm.domain));
  const missing = saved
    .filter((f) => !known.has(posix.basename(f.file, '.xml')))
    .sort((a, b) => createdAt(a.content) - createdAt(b.content));
  for (const f of missing) await d.hypervisor.snapshotRedefine(host.libvirt_uri, vm.domain, f.content);
  return missing.length;
}

/** Before the domain leaves `host` (a live migration): its snapshots' XML saved, then libvirt's metadata of
 * them forgotten there (newest first), the data staying in the disk. */
export async function releaseSnapshots(d: Deps, vm: VmRow, host: HostRow): Promise<number> {
  const names = await saveSnapshots(d, vm, host);
  for (const name of [...names].reverse())
    await d.hypervisor.snapshotForget(host.libvirt_uri, vm.domain, name);
  return names.length;
}

/** Takes the snapshot in the state the VM is in; answers whether it holds the running guest's memory. */
export async function takeSnapshot(
  d: Deps,
  vm: VmRow,
  snapshot: string,
): Promise<{ host: HostRow; running: boolean }> {
  const host = await hostOf(d, vm.host);
  await adoptSnapshots(d, vm, host);
  await d.hypervisor.snapshotCreate(host.libvirt_uri, vm.domain, checkName(snapshot));
  const xml = await d.snapshotMetadata.xml(host.address, host.libvirt_uri, vm.domain, snapshot);
  await d.storage.writeVmFile(host.address, await poolPath(d, vm), xmlFile(vm, snapshot), xml);
  return { host, running: takenRunning(xml) };
}

/** Brings the VM back to the snapshot (running or stopped, as it was taken); answers the state it is in. */
export async function revertSnapshot(
  d: Deps & Pick<ComputeContext, 'db'>,
  vm: VmRow,
  snapshot: string,
): Promise<{ host: HostRow; running: boolean }> {
  const host = await hostOf(d, vm.host);
  await adoptSnapshots(d, vm, host);
  const held = await d.snapshotMetadata.xml(host.address, host.libvirt_uri, vm.domain, checkName(snapshot));
  const mismatch = revertMismatch(vm, held);
  if (mismatch) throw new Error(`not reverting to snapshot ${snapshot}: ${mismatch}`);
  // Not running nor stopped meanwhile: the reconciler leaves the record alone until the revert is done.
  await setRowState(d, vm, 'reverting');
  await d.hypervisor.snapshotRevert(host.libvirt_uri, vm.domain, checkName(snapshot));
  const s = await d.hypervisor.state(host.libvirt_uri, vm.domain);
  const running = s === 'running' || s === 'paused';
  await setRowState(d, vm, running ? 'running' : 'stopped');
  return { host, running };
}

/** Deletes the snapshot (its data in the disk, libvirt's metadata, the saved XML); done when absent. */
export async function deleteSnapshot(d: Deps, vm: VmRow, snapshot: string): Promise<HostRow> {
  const host = await hostOf(d, vm.host);
  await adoptSnapshots(d, vm, host);
  await d.hypervisor.snapshotDelete(host.libvirt_uri, vm.domain, checkName(snapshot));
  await d.storage.removeVmFile(host.address, await poolPath(d, vm), xmlFile(vm, snapshot));
  await saveSnapshots(d, vm, host);
  return host;
}
