// Controller tables: tasks, and the outbox whose rows commit with them (DESIGN "Reliability principles").
import type { ColumnType, Generated, JSONColumnType } from 'kysely';

export type TaskStatus =
  'accepting' | 'pending' | 'running' | 'successful' | 'rolling_back' | 'rolled_back' | 'failed';
export const FINISHED: TaskStatus[] = ['successful', 'rolled_back', 'failed'];

export interface ControllerDB {
  tasks: {
    id: string;
    workspace: string;
    type: string;
    method: string;
    object: string;
    status: TaskStatus;
    stage: string;
    retries_left: number;
    attempt: number;
    deliveries: Generated<number>;
    /** The task message sent to the workers (password included, never answered by the API). */
    body: JSONColumnType<Record<string, unknown>>;
    /** What rollback needs to restore (e.g. the inventory record as it was). */
    previous: JSONColumnType<Record<string, unknown> | null>;
    /** While 'accepting': the inventory calls that undo what the request wrote so far. */
    undos: JSONColumnType<unknown[] | null>;
    error: string | null;
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
    body: JSONColumnType<Record<string, unknown>>;
    request_id: string;
    not_before: Generated<Date>;
    published_at: Date | null;
  };
}
