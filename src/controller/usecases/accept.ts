// Accepting a request. The task row is written first (status 'accepting'), then the inventory writes the
// request needs, each preceded by its undo (write-ahead: a controller killed, or a database lost, between a
// write and its record must not leave the write behind); then the task and its first message commit together
// and the relay publishes. A failure undoes the writes; a controller that dies midway leaves a row the sweeper
// finds and undoes (sweepAccepting). So a request is either accepted and delivered, or leaves nothing behind.
import { randomUUID } from 'node:crypto';
import type { Principal } from '../../lib/auth.ts';
import { conflict, inputError, notFound } from '../../lib/errors.ts';
import type { Method, ObjectType } from '../../lib/contracts/common.ts';
import type { ControllerContext } from '../context.ts';
import {
  busyTask,
  createAcceptingTask,
  forgetTask,
  recordUndos,
  releaseTask,
  staleAccepting,
} from '../store.ts';
import { notifyTask } from './notify.ts';

export const QUEUE_OF: Record<ObjectType, 'vm' | 'network'> = {
  vm: 'vm',
  network: 'network',
  router: 'network',
  interface: 'network',
};

export interface Accepted {
  task_id: string;
  status: 'pending';
  type: ObjectType;
  method: Method;
  name: string;
}

export interface AcceptInput {
  principal: Principal;
  requestId: string;
  owner: string;
  type: ObjectType;
  method: Method;
  name: string;
  stage: string;
  payload: Record<string, unknown>;
  previous?: Record<string, unknown>;
  /** Inventory writes the task needs before it is sent; answers more payload. */
  prepare?: (steps: Steps) => Promise<Record<string, unknown> | void>;
}

/** An inventory call that undoes a write of an accept in progress. */
export interface Undo {
  method: 'DELETE' | 'PUT';
  path: string;
  body?: unknown;
}

export interface Steps {
  /** The task being accepted: inventory tags what it makes with it, so an undo removes only that. */
  taskId: string;
  /** Records durably, before a write, how to undo it. The undo must be harmless when the write never happened
   * (hence DELETE ...?task=<id>, or restoring the value that is still there). */
  willUndo(u: Undo): Promise<void>;
}

export async function accept(ctx: ControllerContext, a: AcceptInput): Promise<Accepted> {
  const task_id = randomUUID();
  await createAcceptingTask(ctx.db, {
    id: task_id,
    workspace: a.owner,
    type: a.type,
    method: a.method,
    object: a.name,
    stage: a.stage,
    retries_left: ctx.config.RETRIES,
    previous: a.previous ?? null,
    username: a.principal.username,
    request_id: a.requestId,
  });
  const undos: Undo[] = [];
  const steps: Steps = {
    taskId: task_id,
    async willUndo(u) {
      undos.push(u);
      await recordUndos(ctx.db, task_id, undos);
    },
  };
  let body: Record<string, unknown>;
  try {
    const extra = (await a.prepare?.(steps)) ?? {};
    body = {
      ...a.payload,
      ...extra,
      task_id,
      type: a.type,
      method: a.method,
      owner: a.owner,
      name: a.name,
      retries: ctx.config.RETRIES,
      attempt: 1,
      request_id: a.requestId,
    };
    await releaseTask(ctx.db, task_id, body, QUEUE_OF[a.type]);
  } catch (e) {
    await compensate(ctx, task_id, undos, a.requestId);
    throw e;
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
  undos: Undo[],
  requestId: string,
): Promise<void> {
  try {
    for (const u of [...undos].reverse()) {
      if (u.method === 'DELETE') await ctx.inventory.del(u.path, requestId);
      else await ctx.inventory.put(u.path, u.body, requestId);
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
    await compensate(ctx, t.id, (t.undos ?? []) as Undo[], t.request_id);
    n++;
  }
  return n;
}

/** The workspace must exist (a token's claims may outlive it). */
export async function requireWorkspace(ctx: ControllerContext, owner: string, requestId: string) {
  if (!(await ctx.inventory.get(`/workspaces/${owner}/`, requestId)))
    throw inputError('owner', `no workspace ${owner}`);
}

/** One change at a time per object: a second one while a task runs is a 409. */
export async function requireIdle(ctx: ControllerContext, owner: string, type: ObjectType, name: string) {
  const busy = await busyTask(ctx.db, owner, type, name);
  if (busy) throw conflict('name', `${type} ${name} has a ${busy.method} task running (${busy.id})`);
}

export async function requireObject<T>(
  ctx: ControllerContext,
  path: string,
  requestId: string,
  field: string,
  what: string,
): Promise<T> {
  const o = await ctx.inventory.get<T>(path, requestId);
  if (!o) throw notFound(field, `no ${what}`);
  return o;
}
