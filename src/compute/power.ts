// A VM's power on its host: start, stop (the ACPI power button, then forced off once the timeout passes),
// force off, and reboot as a stop then a start. Each step looks at the domain first, so running it again
// after a crash finishes the job instead of doing it twice.
//
// Reboot is a shutdown and a start, never libvirt's `virsh reboot`: on hosts with libvirt's lockd lock manager
// (the lab's, and any that guards shared-pool disks) libvirt 9.0 takes the disk's lease again on the guest's
// reset without having released it, and kills the domain (docs/lab.md). A shutdown and a start also work for
// every guest OS, and give the domain its current definition (a resize waits for the same).
import type { PowerAction, VmState } from '../lib/contracts/common.ts';
import type { ComputeContext } from './context.ts';
import type { DomainState } from './hypervisor.ts';
import type { VmRow } from './vms.ts';

type Hv = Pick<ComputeContext, 'hypervisor'>;

/** How a stop ended: the guest powered off by itself, it had to be forced, or it was off already. */
export type Stopped = 'graceful' | 'forced' | 'already';

/** Compute's record state for a host's domain state (what the reconciler and failover go by). */
export const RECORD_STATE: Record<'running' | 'stopped', VmState> = { running: 'U', stopped: 'D' };

const isUp = (s: DomainState | undefined) => s === 'running' || s === 'paused';

/** Waits until the domain is in `want` (true) or the time is out (false); polls every `everyMs`. */
export async function waitForState(
  d: Hv,
  uri: string,
  name: string,
  want: (s: DomainState | undefined) => boolean,
  timeoutMs: number,
  everyMs = 1000,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (want(await d.hypervisor.state(uri, name))) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, Math.min(everyMs, Math.max(deadline - Date.now(), 10))));
  }
}

/** ACPI shutdown, then forced off once `timeoutSeconds` pass; `force` skips the button. */
export async function stopDomain(
  d: Hv,
  uri: string,
  name: string,
  timeoutSeconds: number,
  force = false,
): Promise<Stopped> {
  const s = await d.hypervisor.state(uri, name);
  if (s === undefined) throw new Error(`domain ${name} is not defined on its host`);
  if (!isUp(s)) return 'already';
  if (!force && s === 'running') {
    await d.hypervisor.shutdown(uri, name);
    if (await waitForState(d, uri, name, (x) => !isUp(x), timeoutSeconds * 1000)) return 'graceful';
  }
  await d.hypervisor.destroy(uri, name);
  return 'forced';
}

/** Sets compute's record state (the VM's row). */
export async function setRowState(
  d: Pick<ComputeContext, 'db'>,
  vm: Pick<VmRow, 'id'>,
  state: string,
  powerTask?: string,
): Promise<void> {
  await d.db
    .updateTable('vms')
    .set({ state, ...(powerTask ? { power_task: powerTask } : {}) })
    .where('id', '=', vm.id)
    .execute();
}

/** What an action leaves the VM in. */
export const stateAfter = (action: PowerAction): 'running' | 'stopped' =>
  action === 'start' || action === 'reboot' ? 'running' : 'stopped';

/**
 * Does `action` to the VM's domain on `uri`. Answers how a stop ended (undefined for a start). A reboot
 * already done by this task (`power_task`) is not done again.
 */
export async function applyPower(
  d: Pick<ComputeContext, 'db' | 'hypervisor'>,
  vm: VmRow,
  uri: string,
  action: PowerAction,
  timeoutSeconds: number,
  taskId: string,
): Promise<Stopped | undefined> {
  if (vm.power_task === taskId) return undefined;
  const after = stateAfter(action);
  await setRowState(d, vm, after === 'running' ? 'starting' : 'stopping');
  let stopped: Stopped | undefined;
  if (action !== 'start') stopped = await stopDomain(d, uri, vm.domain, timeoutSeconds, action === 'off');
  if (after === 'running') await d.hypervisor.start(uri, vm.domain);
  await setRowState(d, vm, after, taskId);
  return stopped;
}
