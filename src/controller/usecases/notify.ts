// Room notifications are best effort: a notification outage never blocks or fails a task.
import type { TaskEvent } from '../../lib/contracts/events.ts';
import type { ControllerContext } from '../context.ts';

/** A task's move, as the controller knows it (the room event names the task `task_id`). */
export type TaskChange = Omit<TaskEvent, 'kind' | 'task_id'> & { id: string };

export async function notifyTask(ctx: ControllerContext, t: TaskChange): Promise<void> {
  const { id, ...rest } = t;
  try {
    await ctx.notifier.send(t.workspace, { kind: 'task', task_id: id, ...rest });
  } catch (e) {
    ctx.log.warn({ err: e, task: id }, 'room notification failed');
  }
}
