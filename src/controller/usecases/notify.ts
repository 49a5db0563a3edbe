// Room notifications are best effort: a notification outage never blocks or fails a task.
import type { ControllerContext } from '../context.ts';

export interface TaskEvent {
  id: string;
  workspace: string;
  type: string;
  method: string;
  object: string;
  status: string;
  stage: string;
  error?: string | null;
  retries_left?: number;
  state?: string;
}

export async function notifyTask(ctx: ControllerContext, t: TaskEvent): Promise<void> {
  const { workspace, id, ...rest } = t;
  try {
    await ctx.notifier.send(workspace, { kind: 'task', task_id: id, workspace, ...rest });
  } catch (e) {
    ctx.log.warn({ err: e, task: id }, 'room notification failed');
  }
}
