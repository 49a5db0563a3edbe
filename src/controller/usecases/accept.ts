// Accepting a request: the task row and its first message commit together, then the relay publishes.
import { randomUUID } from 'node:crypto';
import type { Principal } from '../../lib/auth.ts';
import { conflict, inputError, notFound } from '../../lib/errors.ts';
import type { Method, ObjectType } from '../../lib/messages.ts';
import type { ControllerContext } from '../context.ts';
import { busyTask, createTask } from '../store.ts';
import { notifyTask } from './notify.ts';

export const QUEUE_OF: Record<ObjectType, 'vm' | 'network'> = { vm: 'vm', network: 'network', router: 'network', interface: 'network' };

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
  /** Undo of what was written to inventory before the task, when the task row cannot be written. */
  undo?: () => Promise<unknown>;
}

export async function accept(ctx: ControllerContext, a: AcceptInput): Promise<Accepted> {
  const task_id = randomUUID();
  const body = {
    ...a.payload,
    task_id,
    type: a.type,
    method: a.method,
    owner: a.owner,
    name: a.name,
    retries: ctx.config.RETRIES,
    attempt: 1,
    request_id: a.requestId,
  };
  try {
    await createTask(
      ctx.db,
      {
        id: task_id,
        workspace: a.owner,
        type: a.type,
        method: a.method,
        object: a.name,
        stage: a.stage,
        retries_left: ctx.config.RETRIES,
        body,
        previous: a.previous ?? null,
        username: a.principal.username,
        request_id: a.requestId,
      },
      QUEUE_OF[a.type],
    );
  } catch (e) {
    await a.undo?.().catch((u) => ctx.log.error({ err: u, reqId: a.requestId }, 'undo after a failed task write failed'));
    throw e;
  }
  ctx.relay.kick();
  void notifyTask(ctx, { id: task_id, workspace: a.owner, type: a.type, method: a.method, object: a.name, status: 'pending', stage: a.stage });
  return { task_id, status: 'pending', type: a.type, method: a.method, name: a.name };
}

/** The workspace must exist (a token's claims may outlive it). */
export async function requireWorkspace(ctx: ControllerContext, owner: string, requestId: string) {
  if (!(await ctx.inventory.get(`/workspaces/${owner}/`, requestId))) throw inputError('owner', `no workspace ${owner}`);
}

/** One change at a time per object: a second one while a task runs is a 409. */
export async function requireIdle(ctx: ControllerContext, owner: string, type: ObjectType, name: string) {
  const busy = await busyTask(ctx.db, owner, type, name);
  if (busy) throw conflict('name', `${type} ${name} has a ${busy.method} task running (${busy.id})`);
}

export async function requireObject<T>(ctx: ControllerContext, path: string, requestId: string, field: string, what: string): Promise<T> {
  const o = await ctx.inventory.get<T>(path, requestId);
  if (!o) throw notFound(field, `no ${what}`);
  return o;
}
