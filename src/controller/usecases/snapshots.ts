// Snapshot use cases (POST /snapshots/, POST /snapshots/revert/, DELETE /snapshots/): check access, then the
// VM's state and the snapshot's, then accept the VM's SNAPSHOT task. A snapshot being taken has its record
// (state C) written ahead, with its undo; revert and delete write nothing until compute has done them.
import { requirePermission, type Principal } from '../../lib/auth.ts';
import type { SnapshotAction } from '../../lib/contracts/common.ts';
import type { Accepted, SnapshotTarget } from '../../lib/contracts/controller.ts';
import type { VmSnapshotTask } from '../../lib/contracts/messages.ts';
import { conflict, notFound } from '../../lib/errors.ts';
import type { ControllerContext } from '../context.ts';
import { accept, found, requireIdle } from './accept.ts';
import { STATE_WORDS } from './power.ts';

export async function snapshotVm(
  ctx: ControllerContext,
  p: Principal,
  b: SnapshotTarget,
  action: SnapshotAction,
  requestId: string,
): Promise<Accepted> {
  requirePermission(p, b.owner, 'vm_can_edit');
  const o = { requestId };
  const vm = await found(ctx.inventory.vms.get(b.owner, b.vm, o), 'vm', `vm ${b.vm}`);
  if (vm.state !== 'U' && vm.state !== 'D')
    throw conflict('vm', `vm ${b.vm} is ${vm.state} (${STATE_WORDS[vm.state]}): snapshots need it U or D`);
  await requireIdle(ctx, b.owner, 'vm', b.vm);
  const existing = await ctx.inventory.snapshots.get(b.owner, b.vm, b.name, o);
  if (action === 'create' && existing) throw conflict('name', `vm ${b.vm} has a snapshot ${b.name}`);
  if (action !== 'create') {
    if (!existing) throw notFound('name', `vm ${b.vm} has no snapshot ${b.name}`);
    if (existing.state !== 'U') throw conflict('name', `snapshot ${b.name} is still being taken`);
  }
  return accept<VmSnapshotTask>(ctx, {
    principal: p,
    requestId,
    owner: b.owner,
    type: 'vm',
    method: 'SNAPSHOT',
    name: b.vm,
    stage: `${action} ${b.name}`,
    previous: vm,
    message: async (common, steps) => {
      if (action === 'create') {
        await steps.willUndo({
          op: 'delete_snapshot',
          workspace: b.owner,
          vm: b.vm,
          name: b.name,
          task: steps.taskId,
        });
        await ctx.inventory.snapshots.create(b.owner, b.vm, { name: b.name, task: steps.taskId }, o);
      }
      return { ...common, type: 'vm', method: 'SNAPSHOT', action, snapshot: b.name, host: vm.host };
    },
  });
}
