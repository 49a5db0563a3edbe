// Task and outbox SQL. A task and its first message commit in one transaction, so an accepted request
// cannot be lost between the database and the bus.
import { sql, type ExpressionBuilder, type Kysely, type Transaction } from 'kysely';
import type { Method, ObjectType } from '../lib/contracts/common.ts';
import type { Network, Router, Vm } from '../lib/contracts/inventory.ts';
import { FINISHED, type ControllerDB, type TaskStatus } from './schema.ts';
import type { StoredTask } from './seal.ts';

export type Db = Kysely<ControllerDB>;
export type Tx = Transaction<ControllerDB>;
export type TaskRow = Awaited<ReturnType<typeof getTask>> & {};

export interface NewTask {
  id: string;
  workspace: string;
  workspace_id?: number | null;
  type: ObjectType;
  method: Method;
  object: string;
  stage: string;
  retries_left: number;
  body: StoredTask;
  previous?: Vm | Network | Router | null;
  username: string;
  request_id: string;
}

export async function enqueue(
  tx: Tx | Db,
  taskId: string,
  queue: string,
  body: StoredTask,
  requestId: string,
  delaySeconds = 0,
) {
  await tx
    .insertInto('outbox')
    .values({
      task_id: taskId,
      queue,
      body: JSON.stringify(body),
      request_id: requestId,
      not_before: sql<Date>`now() + make_interval(secs => ${delaySeconds})`,
      published_at: null,
    })
    .execute();
}

/** The row of a request being accepted: no message yet, so nothing is sent until releaseTask. `undos`: what
 * undoes its inventory writes, recorded before they are made (write-ahead). */
export async function createAcceptingTask(
  db: Db,
  t: Omit<NewTask, 'body'>,
  undos: unknown[] = [],
): Promise<void> {
  await db
    .insertInto('tasks')
    .values({
      ...t,
      status: 'accepting',
      attempt: 1,
      body: JSON.stringify({}),
      previous: JSON.stringify(t.previous ?? null),
      undos: JSON.stringify(undos),
      error: null,
      finished_at: null,
    })
    .execute();
}

export async function recordUndos(db: Db, id: string, undos: unknown[]): Promise<void> {
  await db
    .updateTable('tasks')
    .set({ undos: JSON.stringify(undos) })
    .where('id', '=', id)
    .execute();
}

/** The task and its first message commit together (with the record as it was, when only now known): one
 * statement, so one round trip and no transaction around it. */
export async function releaseTask(
  db: Db,
  id: string,
  body: StoredTask,
  queue: string,
  previous?: Vm | Network | Router,
): Promise<void> {
  const json = JSON.stringify(body);
  const r = await db
    .with('t', (w) =>
      w
        .updateTable('tasks')
        .set({
          status: 'pending',
          body: json,
          undos: JSON.stringify([]),
          updated_at: new Date(),
          ...(previous ? { previous: JSON.stringify(previous) } : {}),
        })
        .where('id', '=', id)
        .where('status', '=', 'accepting')
        .returning('id'),
    )
    .insertInto('outbox')
    .columns(['task_id', 'queue', 'body', 'request_id', 'published_at'])
    .expression((eb) =>
      eb
        .selectFrom('t')
        .select([
          't.id',
          sql<string>`${queue}::text`.as('queue'),
          sql<string>`${json}::jsonb`.as('body'),
          sql<string>`${body.request_id ?? ''}::text`.as('request_id'),
          sql<null>`NULL::timestamptz`.as('published_at'),
        ]),
    )
    .returning('id')
    .executeTakeFirst();
  if (!r) throw new Error(`task ${id} is no longer being accepted`);
}

export async function forgetTask(db: Db, id: string): Promise<void> {
  await db.deleteFrom('tasks').where('id', '=', id).where('status', '=', 'accepting').execute();
}

export function staleAccepting(db: Db, olderThanSeconds: number) {
  return db
    .selectFrom('tasks')
    .select(['id', 'undos', 'request_id'])
    .where('finished_at', 'is', null) // lets the partial index tasks_unfinished answer
    .where('status', '=', 'accepting')
    .where('created_at', '<', sql<Date>`now() - make_interval(secs => ${olderThanSeconds})`)
    .execute();
}

export function getTask(db: Db | Tx, id: string) {
  return db.selectFrom('tasks').selectAll().where('id', '=', id).executeTakeFirst();
}

export function lockTask(tx: Tx, id: string) {
  return tx.selectFrom('tasks').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

export async function updateTask(
  tx: Tx,
  id: string,
  set: Partial<{
    status: TaskStatus;
    stage: string;
    retries_left: number;
    attempt: number;
    error: string | null;
    warning: string;
    body: StoredTask;
    deliveries: number;
  }>,
) {
  const { body, ...rest } = set;
  const finished = set.status && FINISHED.includes(set.status);
  await tx
    .updateTable('tasks')
    .set({
      ...rest,
      ...(body ? { body: JSON.stringify(body) } : {}),
      updated_at: new Date(),
      ...(finished ? { finished_at: new Date() } : {}),
    })
    .where('id', '=', id)
    .execute();
  // An ended task sends nothing again: its guest's password and first-boot commands go from every row.
  if (finished) await dropSecrets(tx, id);
}

/** The sealed part, and the plain fields rows written before sealing still hold. */
export const DROP_SECRETS = sql<string>`body - array['sealed', 'password', 'runcmd']`;

/** Removes the sealed secrets of a task from its row and its outbox rows. */
export async function dropSecrets(tx: Tx | Db, taskId: string): Promise<void> {
  await tx.updateTable('tasks').set({ body: DROP_SECRETS }).where('id', '=', taskId).execute();
  await tx.updateTable('outbox').set({ body: DROP_SECRETS }).where('task_id', '=', taskId).execute();
}

export type TaskFilter = 'all' | 'running' | 'finished';

/** The columns a task's view shows (never the message, whose body holds the password). */
const VIEW_COLUMNS = [
  'id',
  'workspace',
  'workspace_id',
  'type',
  'method',
  'object',
  'status',
  'stage',
  'retries_left',
  'attempt',
  'deliveries',
  'error',
  'warning',
  'username',
  'request_id',
  'created_at',
  'updated_at',
  'finished_at',
] as const;
export type TaskViewRow = Pick<TaskRow, (typeof VIEW_COLUMNS)[number]>;

/**
 * A page of a workspace's tasks, newest first: `limit` after the task `marker` (the last of the previous
 * page). Those of the workspace's id, and those recorded before tasks carried one under its name (without an
 * id: the workspace's only if no deletion of it came since).
 */
export function listTasks(
  db: Db,
  workspace: { name: string; id?: number },
  filter: TaskFilter,
  limit: number,
  marker?: string,
) {
  const ofWorkspace = (eb: ExpressionBuilder<ControllerDB, 'tasks'>) =>
    eb.or([
      ...(workspace.id === undefined ? [] : [eb('workspace_id', '=', workspace.id)]),
      eb.and([eb('workspace_id', 'is', null), eb('workspace', '=', workspace.name)]),
    ]);
  let q = db
    .selectFrom('tasks')
    .select([...VIEW_COLUMNS])
    .where(ofWorkspace)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit);
  if (filter === 'running') q = q.where('status', 'not in', FINISHED);
  if (filter === 'finished') q = q.where('status', 'in', FINISHED);
  if (marker)
    q = q.where((eb) =>
      eb(
        eb.refTuple('created_at', 'id'),
        '<',
        eb
          .selectFrom('tasks')
          .select(['created_at', 'id'])
          .where('id', '=', marker)
          .where(ofWorkspace)
          .$asTuple('created_at', 'id'),
      ),
    );
  return q.execute();
}

/** Whether an unfinished task already works on this object (one change at a time per object). */
export async function busyTask(db: Db, workspace: string, type: ObjectType, object: string) {
  return db
    .selectFrom('tasks')
    .select(['id', 'method'])
    .where('workspace', '=', workspace)
    .where('type', '=', type)
    .where('object', '=', object)
    .where('status', 'not in', FINISHED)
    .executeTakeFirst();
}

/** A long task's progress: its stage (while it runs; a finished task keeps its last). */
export async function setStage(db: Db, id: string, stage: string): Promise<void> {
  await db
    .updateTable('tasks')
    .set({ stage, status: 'running', updated_at: new Date() })
    .where('id', '=', id)
    .where('status', 'in', ['pending', 'running'])
    .execute();
}

/**
 * Every controller of one database must seal with one task key (seal.ts): the first to start records its
 * key's check value, and one with another key refuses to start rather than fail each task it cannot unseal.
 */
export async function agreeOnTaskKey(db: Db, keyCheck: string): Promise<void> {
  await db
    .insertInto('controller_settings')
    .values({ name: 'task_key_check', value: keyCheck })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
  const held = await db
    .selectFrom('controller_settings')
    .select('value')
    .where('name', '=', 'task_key_check')
    .executeTakeFirstOrThrow();
  if (held.value !== keyCheck)
    throw new Error(
      "KLOUDAK_TASK_KEY differs from the key this controller database's tasks are sealed with: every controller of one database needs the same (set it to the first controller's, found in its data dir at controller/task-key when it was generated)",
    );
}
