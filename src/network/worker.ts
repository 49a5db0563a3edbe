// The network worker (`network` queue) and rollback worker (`network_rollback`): once per task attempt,
// result recorded before it is published, message acked after.
import type { Delivery } from '../lib/bus/bus.ts';
import { parseTask } from '../lib/messages.ts';
import type { NetworkContext } from './context.ts';
import { rollbackTask, runTask } from './tasks.ts';

type Kind = 'task' | 'rollback';

export function networkHandler(ctx: NetworkContext, kind: Kind) {
  return async (d: Delivery) => {
    const t = parseTask(d.body);
    const log = ctx.log.child({
      reqId: t.request_id ?? d.requestId,
      task: t.task_id,
      type: t.type,
      method: t.method,
      kind,
    });
    const publish = async (result: Record<string, unknown>) => {
      if (t.notify === false) return;
      await ctx.bus.publish(
        'network_notification',
        { task_id: t.task_id, attempt: t.attempt, retries: t.retries, from: 'network', ...result },
        { requestId: t.request_id },
      );
    };
    const done = await ctx.db
      .selectFrom('handled')
      .select('result')
      .where('task_id', '=', t.task_id)
      .where('attempt', '=', t.attempt)
      .where('kind', '=', kind)
      .executeTakeFirst();
    if (done) return publish(done.result);
    let result: Record<string, unknown>;
    try {
      if (kind === 'rollback') {
        await rollbackTask(ctx, t);
        result = { status: 'successful', rollback: true };
      } else result = { status: 'successful', ...(await runTask(ctx, t)) };
      log.info('network task done');
    } catch (e) {
      log.warn({ err: e }, 'network task failed');
      result = {
        status: 'failed',
        error: (e as Error).message,
        ...(kind === 'rollback' ? { rollback: true } : {}),
      };
    }
    await ctx.db
      .insertInto('handled')
      .values({ task_id: t.task_id, attempt: t.attempt, kind, result: JSON.stringify(result) })
      .onConflict((oc) => oc.columns(['task_id', 'attempt', 'kind']).doNothing())
      .execute();
    await publish(result);
  };
}
