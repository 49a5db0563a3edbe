// The VM worker (`vm` queue) and the rollback worker (`vm_rollback`): each task is handled once per attempt
// (the `handled` table), its result recorded before it is published, and the message acked only after. The
// bus has checked each task against its queue's schema; the handler is its table's entry.
import type { VmRollback, VmTask } from '../lib/contracts/messages.ts';
import { handledTable, handlerFor, onceByAttempt } from '../lib/handlers.ts';
import type { ComputeContext } from './context.ts';
import { vmRollbacks, vmTasks, type Outcome } from './tasks.ts';

function worker<T extends VmTask | VmRollback>(
  ctx: ComputeContext,
  kind: 'task' | 'rollback',
  run: (t: T) => Promise<Outcome>,
) {
  return onceByAttempt<T, Outcome>({
    kind,
    log: ctx.log,
    handled: handledTable<Outcome>(ctx.db),
    run,
    failed: (error) => ({
      result: { status: 'failed', error, ...(kind === 'rollback' ? { rollback: true } : {}) },
    }),
    publish: async (t, o) => {
      if (o.network) await ctx.bus.publish('network', o.network, { requestId: t.request_id });
      await ctx.bus.publish(
        'vm_notification',
        { task_id: t.task_id, attempt: t.attempt, retries: t.retries, from: 'compute', ...o.result },
        { requestId: t.request_id },
      );
    },
  });
}

export const vmWorker = (ctx: ComputeContext) =>
  worker<VmTask>(ctx, 'task', (t) => handlerFor(vmTasks, t)(t, ctx));
export const vmRollbackWorker = (ctx: ComputeContext) =>
  worker<VmRollback>(ctx, 'rollback', (t) => handlerFor(vmRollbacks, t)(t, ctx));
