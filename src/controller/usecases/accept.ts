// Accepting a request, in three steps:
//   1. the task row, in state 'accepting', with the undo of what step 2 may write (write-ahead: a controller
//      killed, or a database lost, between a write and its record must not leave the write behind);
//   2. ONE inventory call (PUT /<ws>/accepts/<op>/<task>/) that checks everything the request needs, writes
//      in one transaction tagged with the task, and answers what the message needs;
//   3. the task, its message and the record as it was, in one transaction with the outbox row; the relay
//      publishes.
// A failure undoes step 2 (DELETE /<ws>/accepts/<task>/: exact, harmless when nothing was written, final);
// a controller that dies midway leaves a row the sweeper finds and undoes (sweepAccepting). So a request is
// either accepted and delivered, or leaves nothing behind.
//
// A new use case: check the token's permission, then call accept() with `inventory: { op, body }` (an op of
// src/lib/contracts/accepts.ts, with its handler in src/inventory/services/accept-ops.ts) and build the
// message from the answer. Use cases not moved yet pass `message(common, steps)` instead and make their
// inventory calls themselves, each after steps.willUndo (the older, slower path: a round trip per write).
import { randomUUID } from 'node:crypto';
import type { Principal } from '../../lib/auth.ts';
import type { AcceptAnswer, AcceptBody, AcceptOp } from '../../lib/contracts/accepts.ts';
import type { ObjectType } from '../../lib/contracts/common.ts';
import type { Accepted } from '../../lib/contracts/controller.ts';
import type { Network, Router, Vm } from '../../lib/contracts/inventory.ts';
import type { ControllerTask, TaskCommon } from '../../lib/contracts/messages.ts';
import { AppError, conflict, inputError, isAppError, notFound } from '../../lib/errors.ts';
import type { ControllerContext } from '../context.ts';
import {
  busyTask,
  createAcceptingTask,
  forgetTask,
  recordUndos,
  releaseTask,
  staleAccepting,
} from '../store.ts';
import { readUndo, runUndo, type Undo } from '../undo.ts';
import { notifyTask } from './notify.ts';

export const QUEUE_OF = {
  vm: 'vm',
  network: 'network',
  router: 'network',
  interface: 'network',
  workspace: 'workspace',
  host: 'vm',
  security_group: 'network',
} as const satisfies Record<ObjectType, 'vm' | 'network' | 'workspace'>;

type Previous = Vm | Network | Router;

/** What every accept says about its task. */
interface AcceptTask<M extends ControllerTask> {
  principal: Principal;
  requestId: string;
  owner: string;
  /**
   * The workspace's id (tasks are listed by it, so a workspace renamed keeps its tasks and one re-made under
   * the name never sees them). Default: the principal's standing in `owner`.
   */
  workspaceId?: number;
  type: M['type'];
  method: M['method'];
  name: string;
  stage: string;
}

/** One inventory round trip: inventory checks and writes, tagged with the task (the path to follow). */
export interface AcceptOnce<M extends ControllerTask, O extends AcceptOp> extends AcceptTask<M> {
  /** The request's one inventory call: it checks everything, writes in one transaction, answers. */
  inventory: { op: O; body: AcceptBody<O> };
  /** The task's message, from the fields every task carries and inventory's answer. */
  message(common: TaskCommon, answer: AcceptAnswer<O>): M | Promise<M>;
  /** The record as it was (from the answer), for a rollback to restore. */
  previous?(answer: AcceptAnswer<O>): Previous;
}

/** Step by step: the use case makes its inventory calls itself, each after its undo is recorded. */
export interface AcceptInput<M extends ControllerTask> extends AcceptTask<M> {
  /** The record as it was, for a rollback to restore. */
  previous?: Previous;
  /**
   * The task's message, from the fields every task carries: first the inventory writes the task needs
   * (each after its undo is recorded, through steps), then its own fields.
   */
  message(common: TaskCommon, steps: Steps): Promise<M>;
}

export interface Steps {
  /** The task being accepted: inventory tags what it makes with it, so an undo removes only that. */
  taskId: string;
  /** Records durably, before a write, how to undo it. The undo must be harmless when the write never happened
   * (hence deleting only what this task made, or restoring the value that is still there). */
  willUndo(u: Undo): Promise<void>;
}

/** Inventory's own refusal (a 4xx): its transaction wrote nothing. Its field, in the controller's words. */
function refusal(e: unknown): AppError | undefined {
  if (!isAppError(e) || !['input', 'not_found', 'conflict', 'not_allowed'].includes(e.kind)) return undefined;
  // The workspace is the request's owner; one that does not exist is bad input (a token may outlive it).
  if (e.field === 'workspace' && e.kind === 'not_found') return inputError('owner', e.message);
  // A workspace being deleted takes nothing new: 409 on the owner, as before the one round trip.
  if (e.field === 'workspace' && e.kind === 'conflict') return conflict('owner', e.message);
  return e;
}

export function accept<M extends ControllerTask, O extends AcceptOp>(
  ctx: ControllerContext,
  a: AcceptOnce<M, O>,
): Promise<Accepted>;
export function accept<M extends ControllerTask>(
  ctx: ControllerContext,
  a: AcceptInput<M>,
): Promise<Accepted>;
export async function accept<M extends ControllerTask, O extends AcceptOp>(
  ctx: ControllerContext,
  a: AcceptOnce<M, O> | AcceptInput<M>,
): Promise<Accepted> {
  const task_id = randomUUID();
  const common: TaskCommon = {
    task_id,
    owner: a.owner,
    name: a.name,
    retries: ctx.config.RETRIES,
    attempt: 1,
    request_id: a.requestId,
  };
  const row = {
    id: task_id,
    workspace: a.owner,
    workspace_id: a.workspaceId ?? a.principal.workspaces[a.owner]?.id ?? null,
    type: a.type,
    method: a.method,
    object: a.name,
    stage: a.stage,
    retries_left: ctx.config.RETRIES,
    username: a.principal.username,
    request_id: a.requestId,
  };
  if ('inventory' in a) {
    const undo: Undo = { op: 'undo_accept', workspace: a.owner, task: task_id };
    await createAcceptingTask(ctx.db, { ...row, previous: null }, [undo]);
    let answer: AcceptAnswer<O>;
    try {
      answer = await ctx.inventory.accepts.put(a.owner, task_id, a.inventory.op, a.inventory.body, {
        requestId: a.requestId,
      });
    } catch (e) {
      const refused = refusal(e);
      if (refused) await forgetTask(ctx.db, task_id);
      else await compensate(ctx, task_id, [undo], a.requestId);
      throw refused ?? e;
    }
    try {
      const body = await a.message(common, answer);
      await releaseTask(
        ctx.db,
        task_id,
        ctx.sealer.seal(task_id, body),
        QUEUE_OF[a.type],
        a.previous?.(answer),
      );
    } catch (e) {
      await compensate(ctx, task_id, [undo], a.requestId);
      throw e;
    }
  } else {
    await createAcceptingTask(ctx.db, { ...row, previous: a.previous ?? null });
    const undos: Undo[] = [];
    const steps: Steps = {
      taskId: task_id,
      async willUndo(u) {
        undos.push(u);
        await recordUndos(ctx.db, task_id, undos);
      },
    };
    try {
      const body = await a.message(common, steps);
      await releaseTask(ctx.db, task_id, ctx.sealer.seal(task_id, body), QUEUE_OF[a.type]);
    } catch (e) {
      await compensate(ctx, task_id, undos, a.requestId);
      throw e;
    }
  }
  ctx.relay.kick();
  void notifyTask(ctx, {
    id: task_id,
    workspace: a.owner,
    type: a.type,
    method: a.method,
    object: a.name,
    status: 'pending',
    stage: a.stage,
  });
  return { task_id, status: 'pending', type: a.type, method: a.method, name: a.name };
}

/** Undoes an unfinished accept's inventory writes (last first) and forgets its task row. */
export async function compensate(
  ctx: ControllerContext,
  taskId: string,
  recorded: readonly unknown[],
  requestId: string,
): Promise<void> {
  try {
    for (const r of [...recorded].reverse()) {
      const u = readUndo(r);
      // Never skipped: the row stays for the sweeper (and a person) rather than forgetting a write.
      if (!u) throw new Error(`an undo of an unknown form: ${JSON.stringify(r)}`);
      await runUndo(ctx.inventory, u, requestId);
    }
    await forgetTask(ctx.db, taskId);
  } catch (e) {
    // The row stays 'accepting'; the sweeper tries again.
    ctx.log.error({ err: e, reqId: requestId, task: taskId }, 'undoing an interrupted accept failed');
  }
}

/** Finishes accepts that a dead controller left halfway: their writes are undone, their rows removed. */
export async function sweepAccepting(ctx: ControllerContext, olderThanSeconds = 60): Promise<number> {
  let n = 0;
  for (const t of await staleAccepting(ctx.db, olderThanSeconds)) {
    await compensate(ctx, t.id, t.undos ?? [], t.request_id);
    n++;
  }
  return n;
}

/** The workspace must exist, and not be being deleted. */
export async function requireWorkspace(ctx: ControllerContext, owner: string, requestId: string) {
  const ws = await ctx.inventory.workspaces.get(owner, { requestId });
  if (!ws) throw inputError('owner', `no workspace ${owner}`);
  if (ws.state === 'X') throw conflict('owner', `workspace ${owner} is being deleted`);
}

/** One change at a time per object: a second one while a task runs is a 409. */
export async function requireIdle(ctx: ControllerContext, owner: string, type: ObjectType, name: string) {
  const busy = await busyTask(ctx.db, owner, type, name);
  if (busy) throw conflict('name', `${type} ${name} has a ${busy.method} task running (${busy.id})`);
}

/** What an inventory read found, or a 404 naming the field. */
export async function found<T>(read: Promise<T | undefined>, field: string, what: string): Promise<T> {
  const o = await read;
  if (o === undefined) throw notFound(field, `no ${what}`);
  return o;
}
