// Accepting a request. The task row is written first (status 'accepting'), then the inventory writes the
// request needs, each preceded by its undo (write-ahead: a controller killed, or a database lost, between a
// write and its record must not leave the write behind); then the task and its first message commit together
// and the relay publishes. A failure undoes the writes; a controller that dies midway leaves a row the sweeper
// finds and undoes (sweepAccepting). So a request is either accepted and delivered, or leaves nothing behind.
import { randomUUID } from 'node:crypto';
import type { Principal } from '../../lib/auth.ts';
import type { ObjectType } from '../../lib/contracts/common.ts';
import type { Accepted } from '../../lib/contracts/controller.ts';
import type { Network, Router, Vm } from '../../lib/contracts/inventory.ts';
import type { ControllerTask, TaskCommon } from '../../lib/contracts/messages.ts';
import { conflict, inputError, notFound } from '../../lib/errors.ts';
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

export interface AcceptInput<M extends ControllerTask> {
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
  /** The record as it was, for a rollback to restore. */
  previous?: Vm | Network | Router;
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

export async function accept<M extends ControllerTask>(
  ctx: ControllerContext,
  a: AcceptInput<M>,
): Promise<Accepted> {
  const task_id = randomUUID();
  await createAcceptingTask(ctx.db, {
    id: task_id,
    workspace: a.owner,
    workspace_id: a.workspaceId ?? a.principal.workspaces[a.owner]?.id ?? null,
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
  const common: TaskCommon = {
    task_id,
    owner: a.owner,
    name: a.name,
    retries: ctx.config.RETRIES,
    attempt: 1,
    request_id: a.requestId,
  };
  try {
    const body = await a.message(common, steps);
    await releaseTask(ctx.db, task_id, ctx.sealer.seal(task_id, body), QUEUE_OF[a.type]);
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
