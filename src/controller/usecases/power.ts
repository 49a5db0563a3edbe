// Power use case (POST /vms/power/): check access, then the VM's state, then accept the task.
import { requirePermission, type Principal } from '../../lib/auth.ts';
import type { VmState } from '../../lib/contracts/common.ts';
import type { Accepted, VmPower } from '../../lib/contracts/controller.ts';
import type { VmPowerTask } from '../../lib/contracts/messages.ts';
import { conflict, inputError } from '../../lib/errors.ts';
import type { ControllerContext } from '../context.ts';
import { accept, found, requireIdle } from './accept.ts';

/** Seconds a stop waits for the guest to power off before forcing it, when the request does not say. */
export const DEFAULT_STOP_TIMEOUT = 60;

export const STATE_WORDS: Record<VmState, string> = {
  C_D: 'creating its disk',
  C_N: 'configuring its network',
  U: 'up',
  D: 'down',
  E: 'in error',
  X: 'being deleted',
};

export async function powerVm(
  ctx: ControllerContext,
  p: Principal,
  b: VmPower,
  requestId: string,
): Promise<Accepted> {
  requirePermission(p, b.owner, 'vm_can_edit');
  if (b.timeout !== undefined && (b.action === 'start' || b.action === 'off'))
    throw inputError('timeout', `${b.action} does not wait for the guest: timeout is for stop and reboot`);
  const vm = await found(ctx.inventory.vms.get(b.owner, b.name, { requestId }), 'name', `vm ${b.name}`);
  await requireIdle(ctx, b.owner, 'vm', b.name);
  const needs: VmState = b.action === 'start' ? 'D' : 'U';
  if (vm.state !== needs)
    throw conflict(
      'action',
      `vm ${b.name} is ${vm.state} (${STATE_WORDS[vm.state]}): ${b.action} needs it ${needs} (${STATE_WORDS[needs]})`,
    );
  return accept<VmPowerTask>(ctx, {
    principal: p,
    requestId,
    owner: b.owner,
    type: 'vm',
    method: 'POWER',
    name: b.name,
    stage: b.action,
    previous: vm,
    message: async (common) => ({
      ...common,
      type: 'vm',
      method: 'POWER',
      action: b.action,
      timeout: b.timeout ?? DEFAULT_STOP_TIMEOUT,
      host: vm.host,
    }),
  });
}
