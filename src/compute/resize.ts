// Resize (cold): the VM is stopped (ACPI, then forced after the timeout), its definition rewritten with the new
// vCPUs and memory from compute's record, and started again when it was running. The record's state is
// `resizing` meanwhile, so a redelivery after a crash finishes the job, and one after the end does nothing.
// Whether the host has the room is asked before the task is accepted (vm_room, answered here).
import type { VmRoom, VmRoomRequest } from '../lib/contracts/messages.ts';
import { notFound } from '../lib/errors.ts';
import type { ComputeContext } from './context.ts';
import { setRowState, stopDomain } from './power.ts';
import { hostOf, vmByName, vmDomainXml, type VmRow } from './vms.ts';

/** Seconds the guest has to power off before a resize forces it. */
export const RESIZE_STOP_TIMEOUT = 60;

export interface Size {
  memoryMib: number;
  vcpus: number;
}

/** A size in the record's units: GiB of memory to whole MiB. */
export const sizeOf = (cpu: number, ramGib: number): Size => ({
  vcpus: cpu,
  memoryMib: Math.round(ramGib * 1024),
});

/** vm_room: whether the VM's host has room for the new size, by placement (monitoring, else compute's rule). */
export async function vmRoom(
  ctx: Pick<ComputeContext, 'db' | 'catalogue' | 'placement'>,
  r: VmRoomRequest,
): Promise<VmRoom> {
  const vm = await vmByName(ctx, r.owner, r.name);
  if (!vm) throw notFound('name', `vm ${r.owner}/${r.name} is not on any host`);
  const host = await hostOf(ctx, vm.host);
  await ctx.placement.room({
    area: host.area,
    host: host.name,
    memoryMib: r.memoryMib,
    vcpus: r.vcpus,
    held: { memoryMib: vm.memory_mib, vcpus: vm.vcpus, running: vm.state !== 'stopped' },
  });
  return { host: host.name };
}

/**
 * Gives the VM `size`; starts it again when `running`. Answers whether it was started (its ports need
 * tagging again). Nothing happens when the record has the size already and no resize was left halfway.
 */
export async function resizeVm(
  ctx: Pick<ComputeContext, 'db' | 'catalogue' | 'hypervisor'>,
  vm: VmRow,
  template: string,
  size: Size,
  running: boolean,
): Promise<boolean> {
  if (vm.memory_mib === size.memoryMib && vm.vcpus === size.vcpus && vm.state !== 'resizing') return false;
  const host = await hostOf(ctx, vm.host);
  const pool = await ctx.catalogue.pool(vm.pool);
  if (!pool) throw new Error(`pool ${vm.pool} is not in the catalogue`);
  const boot = await ctx.catalogue.template(template);
  if (!boot) throw new Error(`template ${template} of vm ${vm.workspace}/${vm.name} is not in the catalogue`);
  await setRowState(ctx, vm, 'resizing');
  await stopDomain(ctx, host.libvirt_uri, vm.domain, RESIZE_STOP_TIMEOUT);
  await ctx.db
    .updateTable('vms')
    .set({ memory_mib: size.memoryMib, vcpus: size.vcpus })
    .where('id', '=', vm.id)
    .execute();
  const resized = { ...vm, memory_mib: size.memoryMib, vcpus: size.vcpus };
  await ctx.hypervisor.define(host.libvirt_uri, vmDomainXml(resized, host, pool.path, boot));
  if (running) await ctx.hypervisor.start(host.libvirt_uri, vm.domain);
  await setRowState(ctx, vm, running ? 'running' : 'stopped');
  return running;
}
