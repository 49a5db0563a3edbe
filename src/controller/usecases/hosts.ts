// Operators' host use cases (issue 18): drain a host (maintenance on, its VMs moved live by compute) and
// restore it (maintenance off). Admins only. The flag is written ahead of the task, its undo recorded first.
import type { Principal } from '../../lib/auth.ts';
import { HOST_TASKS } from '../../lib/contracts/common.ts';
import type { HostTarget } from '../../lib/contracts/controller.ts';
import type { HostDrainTask, HostRestoreTask } from '../../lib/contracts/messages.ts';
import { notAllowed } from '../../lib/errors.ts';
import type { ControllerContext } from '../context.ts';
import { accept, found, requireIdle } from './accept.ts';

/** VMs a drain moves at once unless told. */
export const DRAIN_PARALLEL = 2;

async function hostChange(
  ctx: ControllerContext,
  p: Principal,
  b: HostTarget,
  requestId: string,
  method: 'DRAIN' | 'RESTORE',
) {
  const o = { requestId };
  if (!p.isAdmin) throw notAllowed('only admins drain or restore hosts');
  const host = await found(ctx.inventory.hosts.get(b.host, o), 'host', `host ${b.host}`);
  await requireIdle(ctx, HOST_TASKS, 'host', b.host);
  const on = method === 'DRAIN';
  return accept<HostDrainTask | HostRestoreTask>(ctx, {
    principal: p,
    requestId,
    owner: HOST_TASKS,
    type: 'host',
    method,
    name: b.host,
    stage: on ? 'draining' : 'restoring',
    message: async (common, steps) => {
      await steps.willUndo({ op: 'host_maintenance', host: b.host, maintenance: host.maintenance ?? false });
      await ctx.inventory.hosts.setMaintenance(b.host, on, o);
      return on
        ? {
            ...common,
            type: 'host',
            method: 'DRAIN',
            parallel: b.parallel ?? DRAIN_PARALLEL,
            ...(b.break_affinity ? { break_affinity: true } : {}),
          }
        : { ...common, type: 'host', method: 'RESTORE' };
    },
  });
}

export const drainHost = (ctx: ControllerContext, p: Principal, b: HostTarget, requestId: string) =>
  hostChange(ctx, p, b, requestId, 'DRAIN');
export const restoreHost = (ctx: ControllerContext, p: Principal, b: HostTarget, requestId: string) =>
  hostChange(ctx, p, b, requestId, 'RESTORE');
