// Controller tables: tasks, and the outbox whose rows commit with them (DESIGN "Reliability principles").
import type { ColumnType, Generated, JSONColumnType } from 'kysely';
import type { Method, ObjectType } from '../lib/contracts/common.ts';
import { FINISHED_STATUSES, type TaskStatus } from '../lib/contracts/controller.ts';
import type { Network, Router, Vm } from '../lib/contracts/inventory.ts';
import type { ControllerTask, SpentTask } from '../lib/contracts/messages.ts';
import type { StoredTask } from './seal.ts';

export type { TaskStatus };
export const FINISHED: readonly TaskStatus[] = FINISHED_STATUSES;

/** A task message as sent: to its work queue, or spent to its rollback queue. */
export type SentTask = ControllerTask | SpentTask;

export interface ControllerDB {
  tasks: {
    id: string;
    workspace: string;
    /** The workspace's id in inventory (null for tasks accepted before migration 004). */
    workspace_id: number | null;
    type: ObjectType;
    method: Method;
    object: string;
    status: TaskStatus;
    stage: string;
    retries_left: number;
    attempt: number;
    deliveries: Generated<number>;
    /** The task message sent to the workers, its password and first-boot commands sealed while the task
     * runs and dropped when it ends (seal.ts); never answered by the API. `{}` while the task is
     * 'accepting': nothing reads it before releaseTask writes the message. */
    body: JSONColumnType<StoredTask>;
    /** What rollback needs to restore (the inventory record as it was). */
    previous: JSONColumnType<Vm | Network | Router | null>;
    /** While 'accepting': the undos of what the request wrote so far (usecases/accept.ts, undo.ts). */
    undos: JSONColumnType<unknown[] | null>;
    error: string | null;
    /** What the task did that was not what was asked (an anti-affinity group not honoured). */
    warning: ColumnType<string | null, string | null | undefined, string | null>;
    username: string;
    request_id: string;
    created_at: ColumnType<Date, never, never>;
    updated_at: Generated<Date>;
    finished_at: Date | null;
  };
  outbox: {
    id: Generated<number>;
    task_id: string;
    queue: string;
    /** Sealed like the task's; the sealed part is dropped once the message is published. */
    body: JSONColumnType<StoredTask>;
    request_id: string;
    not_before: Generated<Date>;
    published_at: Date | null;
  };
  /** One row per setting every controller of this database must agree on. */
  controller_settings: {
    name: string;
    value: string;
  };
}
