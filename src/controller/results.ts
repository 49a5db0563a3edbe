// Result consumers (book chapter 7 "Queue Monitoring", chapter 12 "Execution Errors & Rollbacks"): a
// successful step moves the inventory object on; a failure is resubmitted while retries are left, then rolled
// back; every step is told to the workspace room. Results are deduplicated by task state and attempt, so a
// redelivered result changes nothing.
import type { Bus, Delivery } from '../lib/bus/bus.ts';
import type { Logger } from '../lib/log.ts';
import type { TaskResult } from '../lib/contracts/messages.ts';
import type { ControllerContext } from './context.ts';
import { FINISHED, type TaskStatus } from './schema.ts';
import { enqueue, lockTask, updateTask, type TaskRow, type Tx } from './store.ts';
import { QUEUE_OF } from './usecases/accept.ts';
import { notifyTask, type TaskChange } from './usecases/notify.ts';
import { applyRollback, applySuccess } from './effects.ts';

const ROLLBACK_QUEUE = {
  vm: 'vm_rollback',
  network: 'network_rollback',
  workspace: 'workspace_rollback',
} as const;

export async function handleResult(ctx: ControllerContext, r: TaskResult, requestId?: string): Promise<void> {
  const log = ctx.log.child({ reqId: requestId, task: r.task_id });
  const event = await ctx.db.transaction().execute((tx) => step(ctx, tx, r, log));
  if (event) {
    ctx.relay.kick();
    await notifyTask(ctx, event);
  }
}

async function step(
  ctx: ControllerContext,
  tx: Tx,
  r: TaskResult,
  log: Logger,
): Promise<TaskChange | undefined> {
  const task = await lockTask(tx, r.task_id);
  if (!task) {
    log.warn({ status: r.status }, 'result for an unknown task dropped');
    return undefined;
  }
  // An accepting task has sent nothing yet: a result for it answers no message of ours.
  if (task.status === 'accepting') {
    log.warn({ status: r.status }, 'result for a task not sent yet dropped');
    return undefined;
  }
  if (FINISHED.includes(task.status) || (r.attempt !== undefined && r.attempt !== task.attempt)) {
    log.info(
      { status: r.status, attempt: r.attempt, current: task.attempt },
      'stale or duplicate result ignored',
    );
    return undefined;
  }
  const rollingBack = task.status === 'rolling_back';
  if (rollingBack !== Boolean(r.rollback)) {
    log.info({ rollback: r.rollback }, 'result of the wrong phase ignored');
    return undefined;
  }
  const event = (status: TaskStatus, stage: string, extra: Partial<TaskChange> = {}): TaskChange => ({
    id: task.id,
    workspace: task.workspace,
    type: task.type,
    method: task.method,
    object: task.object,
    status,
    stage,
    ...extra,
  });
  const deliveries = task.deliveries + 1;

  if (rollingBack) {
    const state = await applyRollback(ctx, task, r);
    const error =
      r.status === 'failed'
        ? `${task.error ?? 'failed'}; rollback failed: ${r.error ?? 'unknown'}`
        : task.error;
    const status: TaskStatus = r.status === 'successful' ? 'rolled_back' : 'failed';
    await updateTask(tx, task.id, { status, stage: 'rolled back', error, deliveries });
    log.info({ status }, 'rollback finished');
    return event(status, 'rolled back', { error, state });
  }

  // A long step's progress (a migration's percentage): the stage moves on, nothing else changes.
  if (r.status === 'progress') {
    const stage = r.stage ?? task.stage;
    if (stage === task.stage) return undefined;
    await updateTask(tx, task.id, { status: 'running', stage });
    return event('running', stage);
  }

  if (r.status === 'failed') return fail(ctx, tx, task, r, deliveries, event, log);

  const outcome = await applySuccess(ctx, task, r);
  // A worker's warning (compute's first result of a create, before the network's) stays with the task.
  const warning = r.warning ? { warning: r.warning } : {};
  if (r.warning) log.warn({ warning: r.warning }, 'task warning');
  if (outcome.pending) {
    await updateTask(tx, task.id, { status: 'running', stage: outcome.stage, deliveries, ...warning });
    return event('running', outcome.stage, { state: outcome.state });
  }
  await updateTask(tx, task.id, {
    status: 'successful',
    stage: outcome.stage,
    error: null,
    deliveries,
    ...warning,
  });
  log.info('task successful');
  return event('successful', outcome.stage, { state: outcome.state });
}

async function fail(
  ctx: ControllerContext,
  tx: Tx,
  task: TaskRow,
  r: TaskResult,
  deliveries: number,
  event: (s: TaskStatus, stage: string, extra?: Partial<TaskChange>) => TaskChange,
  log: Logger,
): Promise<TaskChange> {
  const error = r.error ?? 'failed without a reason';
  const queue = QUEUE_OF[task.type];
  if (task.retries_left > 0) {
    const retries_left = task.retries_left - 1;
    const attempt = task.attempt + 1;
    const body = { ...task.body, retries: retries_left, attempt };
    await enqueue(tx, task.id, queue, body, task.request_id, ctx.config.RETRY_WAIT);
    await updateTask(tx, task.id, {
      status: 'running',
      stage: 'retrying',
      retries_left,
      attempt,
      error,
      body,
      deliveries,
    });
    log.warn({ error, retries_left }, 'task failed; resubmitted');
    return event('running', 'retrying', { error, retries_left });
  }
  const attempt = task.attempt + 1;
  const body = { ...task.body, retries: 0, attempt, rollback: true, error, failed_stage: task.stage };
  await enqueue(tx, task.id, ROLLBACK_QUEUE[queue], body, task.request_id);
  await updateTask(tx, task.id, {
    status: 'rolling_back',
    stage: 'rolling back',
    attempt,
    error,
    deliveries,
  });
  log.warn({ error }, 'task failed with no retries left; rolling back');
  return event('rolling_back', 'rolling back', { error, retries_left: 0 });
}

/** Consumes both result queues until cancelled. */
export async function consumeResults(ctx: ControllerContext, bus: Bus) {
  const handler = async (d: Delivery<TaskResult>) => handleResult(ctx, d.body, d.requestId);
  return Promise.all([
    bus.consume('vm_notification', handler, { prefetch: 16 }),
    bus.consume('network_notification', handler, { prefetch: 16 }),
    bus.consume('workspace_notification', handler, { prefetch: 16 }),
  ]);
}
