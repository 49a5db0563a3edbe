// The network worker (`network` queue) and rollback worker (`network_rollback`). The bus has checked each
// task against its queue's schema; the handler is its table's entry for the task's `<type> <method>`.
import type { NetworkRollback, NetworkTask, TaskResult } from '../lib/contracts/messages.ts';
import { handledTable, handlerFor, onceByAttempt } from '../lib/handlers.ts';
import type { NetworkContext } from './context.ts';
import { networkRollbacks, networkTasks } from './tasks.ts';

export type HandledResult = Omit<TaskResult, 'task_id' | 'attempt' | 'retries' | 'from'>;

function worker<T extends NetworkTask | NetworkRollback>(
  ctx: NetworkContext,
  kind: 'task' | 'rollback',
  run: (t: T) => Promise<HandledResult>,
) {
  return onceByAttempt<T, HandledResult>({
    kind,
    log: ctx.log,
    handled: handledTable<HandledResult>(ctx.db),
    run,
    failed: (error) => ({ status: 'failed', error, ...(kind === 'rollback' ? { rollback: true } : {}) }),
    publish: async (t, result) => {
      if (t.notify === false) return;
      await ctx.bus.publish(
        'network_notification',
        { task_id: t.task_id, attempt: t.attempt, retries: t.retries, from: 'network', ...result },
        { requestId: t.request_id },
      );
    },
  });
}

export const networkWorker = (ctx: NetworkContext) =>
  worker<NetworkTask>(ctx, 'task', async (t) => ({
    status: 'successful',
    ...(await handlerFor(networkTasks, t)(t, ctx)),
  }));

export const networkRollbackWorker = (ctx: NetworkContext) =>
  worker<NetworkRollback>(ctx, 'rollback', async (t) => {
    await handlerFor(networkRollbacks, t)(t, ctx);
    return { status: 'successful', rollback: true };
  });
