// Task handler tables (compute, network): one small function per task `<type> <method>`, each taking only
// the dependencies it uses. The table's type is derived from the queue's tagged union, so a variant added
// to the contract without a handler does not compile.
import { sql, type QueryExecutorProvider } from 'kysely';
import type { Delivery } from './bus/bus.ts';
import type { TaskKey } from './contracts/messages.ts';
import type { Logger } from './log.ts';

type Tagged = { type: string; method: string };

/** The variant of U whose key is K (`Variant<NetworkTask, 'router POST'>`). */
export type Variant<U extends Tagged, K extends string> = U extends U
  ? TaskKey<U> extends K
    ? U
    : never
  : never;

/** A handler for every variant of U, by its `<type> <method>` key. */
export type HandlerTable<U extends Tagged, Deps, R> = {
  [V in U as TaskKey<V>]: (t: V, deps: Deps) => Promise<R>;
};

/** The handler of one task (a message the bus has checked against U's schema). */
export function handlerFor<U extends Tagged, Deps, R>(
  table: HandlerTable<U, Deps, R>,
  t: U,
): (t: U, deps: Deps) => Promise<R> {
  // The key names the variant t is (the bus checked it), so the entry takes t.
  const byKey = table as unknown as Record<string, ((t: U, deps: Deps) => Promise<R>) | undefined>;
  const h = byKey[`${t.type} ${t.method}`];
  if (!h) throw new Error(`no handler for ${t.type} ${t.method}`);
  return h;
}

/** Where a worker records the tasks it handled, by task, attempt and kind (its `handled` table). */
export interface HandledLog<R> {
  /**
   * What became of this attempt before: its recorded result, `superseded` when a later attempt of the task
   * (or, for a task, its rollback) was handled, so this one is stale; undefined when it is new.
   */
  earlier(taskId: string, attempt: number, kind: string): Promise<{ result: R } | 'superseded' | undefined>;
  record(taskId: string, attempt: number, kind: string, result: R): Promise<void>;
}

/**
 * The `handled` table of a worker's database (compute's and network's have the same columns: task_id,
 * attempt, kind, result jsonb, primary key of the first three). Plain SQL, so one copy serves both.
 */
export function handledTable<R>(db: QueryExecutorProvider): HandledLog<R> {
  return {
    earlier: async (taskId, attempt, kind) => {
      // This attempt's own row first; any other row found is one that supersedes it.
      const [row] = (
        await sql<{
          result: R;
          same: boolean;
        }>`SELECT result, (kind = ${kind} AND attempt = ${attempt}) AS same
          FROM handled WHERE task_id = ${taskId}
            AND ((kind = ${kind} AND attempt >= ${attempt}) OR (${kind} <> 'rollback' AND kind = 'rollback'))
          ORDER BY same DESC LIMIT 1`.execute(db)
      ).rows;
      if (!row) return undefined;
      return row.same ? { result: row.result } : 'superseded';
    },
    record: async (taskId, attempt, kind, result) =>
      void (await sql`INSERT INTO handled (task_id, attempt, kind, result)
          VALUES (${taskId}, ${attempt}, ${kind}, ${JSON.stringify(result)}::jsonb)
          ON CONFLICT (task_id, attempt, kind) DO NOTHING`.execute(db)),
  };
}

interface TaskEnvelope {
  task_id: string;
  attempt: number;
  type: string;
  method: string;
  request_id?: string;
}

/**
 * A worker's message handler: each task attempt is handled once; its result is recorded before it is
 * published and the message acked after, so a redelivery publishes the recorded result again instead of
 * doing the work twice. A failure is a result too (`failed(error)`), for the controller to retry or roll back.
 * An attempt that comes back after a later one (or the task's rollback) was handled is dropped: the
 * controller has moved on, and running it would undo what came after (a deleted VM made again).
 */
export function onceByAttempt<T extends TaskEnvelope, R>(o: {
  kind: string;
  log: Logger;
  handled: HandledLog<R>;
  run(t: T): Promise<R>;
  failed(error: string): R;
  publish(t: T, result: R): Promise<void>;
}): (d: Delivery<T>) => Promise<void> {
  return async (d) => {
    const t = d.body;
    const log = o.log.child({
      reqId: t.request_id ?? d.requestId,
      task: t.task_id,
      type: t.type,
      method: t.method,
      kind: o.kind,
    });
    const before = await o.handled.earlier(t.task_id, t.attempt, o.kind);
    if (before === 'superseded') {
      log.warn('a stale attempt of a task handled since: dropped');
      return;
    }
    if (before) {
      log.info('task already handled; answering its recorded result again');
      return o.publish(t, before.result);
    }
    let result: R;
    try {
      result = await o.run(t);
      log.info('task done');
    } catch (e) {
      log.warn({ err: e }, 'task failed');
      result = o.failed((e as Error).message);
    }
    await o.handled.record(t.task_id, t.attempt, o.kind, result);
    await o.publish(t, result);
  };
}
