// What a resize (PUT /vms/ with update_dict cpu, ram) must pass before it is accepted: the VM at rest (U or
// D), a size some host of its area could hold at all (else 400 naming the field), and room on the VM's own
// host, which compute answers (vm_room) by placement: monitoring's figures, else compute's own rule (else 409).
import type { VmPut } from '../../lib/contracts/controller.ts';
import type { Vm } from '../../lib/contracts/inventory.ts';
import { conflict, inputError, isAppError, unavailable } from '../../lib/errors.ts';
import type { ControllerContext } from '../context.ts';
import { STATE_WORDS } from './power.ts';

export async function requireRoom(
  ctx: ControllerContext,
  vm: Vm,
  owner: string,
  u: VmPut['update_dict'],
  requestId: string,
): Promise<void> {
  if (vm.state !== 'U' && vm.state !== 'D')
    throw conflict(
      'update_dict',
      `vm ${vm.name} is ${vm.state} (${STATE_WORDS[vm.state]}): a resize needs it U or D`,
    );
  const cpu = u.cpu ?? vm.cpu;
  const ram = u.ram ?? vm.ram;
  const hosts = (await ctx.inventory.hosts.list({ requestId })).filter((h) => h.area === vm.area);
  if (!hosts.length) throw conflict('update_dict', `area ${vm.area} has no host`);
  const maxCpus = Math.max(...hosts.map((h) => h.cpus));
  const maxRam = Math.max(...hosts.map((h) => h.memory));
  if (cpu > maxCpus)
    throw inputError(
      'update_dict.cpu',
      `no host of area ${vm.area} has ${cpu} CPUs (the largest has ${maxCpus})`,
    );
  if (ram > maxRam)
    throw inputError(
      'update_dict.ram',
      `no host of area ${vm.area} has ${ram} GiB of memory (the largest has ${maxRam} GiB)`,
    );
  try {
    await ctx.compute.room(
      { owner, name: vm.name, vcpus: cpu, memoryMib: Math.round(ram * 1024) },
      requestId,
    );
  } catch (e) {
    if (!isAppError(e)) throw e;
    if (e.kind === 'conflict')
      throw conflict(e.field ?? 'update_dict', `no room for the new size: ${e.message}`);
    if (e.kind === 'not_found') throw conflict('name', `vm ${vm.name} is on no host compute knows`);
    if (e.kind === 'unavailable')
      throw unavailable(`compute did not answer whether the host has room: ${e.message}`);
    throw e;
  }
}
