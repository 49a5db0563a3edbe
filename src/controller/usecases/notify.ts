// Room notifications are best effort: a notification outage never blocks or fails a task.
import { HOST_TASKS } from '../../lib/contracts/common.ts';
import type { TaskEvent } from '../../lib/contracts/events.ts';
import type { ControllerContext } from '../context.ts';
import { tenantError } from '../tenant-error.ts';

/** A task's move, as the controller knows it (the room event names the task `task_id`). */
export type TaskChange = Omit<TaskEvent, 'kind' | 'task_id'> & { id: string };

export async function notifyTask(ctx: ControllerContext, t: TaskChange): Promise<void> {
  const { id, ...rest } = t;
  // Rooms are the tenants': errors without the operators' host paths and addresses (tenant-error.ts).
  if (typeof rest.error === 'string') rest.error = tenantError(rest.error) ?? rest.error;
  const event: TaskEvent = { kind: 'task', task_id: id, ...rest };
  // A VM's live move is the operators' business too: the hosts' room (admins) hears it beside the workspace.
  const rooms = t.type === 'vm' && t.method === 'MIGRATE' ? [t.workspace, HOST_TASKS] : [t.workspace];
  for (const room of rooms) {
    try {
      await ctx.notifier.send(room, event);
    } catch (e) {
      ctx.log.warn({ err: e, task: id }, 'room notification failed');
    }
  }
}
