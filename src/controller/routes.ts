// The controller API (DESIGN "Public APIs"): the only way to create, edit or delete VMs, networks, routers
// and interfaces; answers 202 with the task and a Location to follow it.
import type { FastifyReply } from 'fastify';
import { authenticate, serviceHolds, type Principal } from '../lib/auth.ts';
import { ErrorBody } from '../lib/contracts/common.ts';
import {
  Accepted,
  HostTarget,
  InterfaceDelete,
  InterfacePost,
  NetworkPost,
  NetworkPut,
  SecurityGroupPost,
  SecurityGroupPut,
  SnapshotTarget,
  Target,
  Task,
  TaskList,
  TaskListParams,
  TaskListQuery,
  TaskParams,
  VmAccepted,
  VmMigrate,
  VmPost,
  VmPower,
  VmPut,
  WaitQuery,
  WorkspaceTarget,
} from '../lib/contracts/controller.ts';
import { notAllowed, notFound } from '../lib/errors.ts';
import type { App } from '../lib/http.ts';
import type { ControllerContext } from './context.ts';
import { FINISHED } from './schema.ts';
import { getTask, listTasks, type TaskFilter, type TaskRow, type TaskViewRow } from './store.ts';
import {
  changeInterface,
  createNetwork,
  createRouter,
  deleteNetwork,
  deleteRouter,
  updateNetwork,
} from './usecases/networks.ts';
import { powerVm } from './usecases/power.ts';
import { snapshotVm } from './usecases/snapshots.ts';
import { drainHost, restoreHost } from './usecases/hosts.ts';
import { createVm, deleteVm, migrateVm, updateVm } from './usecases/vms.ts';
import { deleteWorkspace } from './usecases/workspaces.ts';
import { tenantError } from './tenant-error.ts';
import { createSecurityGroup, deleteSecurityGroup, updateSecurityGroup } from './usecases/secgroups.ts';

/** Every refusal is the one error body. */
const errors = { '4xx': ErrorBody, '5xx': ErrorBody };
const accepts = { 202: Accepted, ...errors };

const iso = (d: Date | string) => new Date(d).toISOString();

/**
 * A task as the API shows it (the message body, with its password, is never shown); a tenant reads its error
 * without the operators' host paths and addresses (`raw` for admins and services).
 */
export function taskView(t: TaskViewRow, raw = false): Task {
  return {
    task_id: t.id,
    workspace: t.workspace,
    type: t.type,
    method: t.method,
    object: t.object,
    status: t.status,
    stage: t.stage,
    retries_left: t.retries_left,
    attempt: t.attempt,
    deliveries: t.deliveries,
    error: raw ? t.error : tenantError(t.error, t.request_id),
    ...(t.warning ? { warning: t.warning } : {}),
    username: t.username,
    request_id: t.request_id,
    created_at: iso(t.created_at),
    updated_at: iso(t.updated_at),
    finished_at: t.finished_at === null ? null : iso(t.finished_at),
  };
}

/** The workspace whose tasks the caller asks for: a member's by its standing, an operator's from inventory. */
async function workspaceOf(ctx: ControllerContext, p: Principal, ws: string, requestId: string) {
  if (!serviceHolds(p, 'tasks') && !p.isAdmin) {
    const access = p.workspaces[ws];
    if (!access) throw notAllowed(`not a member of workspace ${ws}`, 'workspace');
    return { name: ws, id: access.id };
  }
  return { name: ws, id: (await ctx.inventory.workspaces.get(ws, { requestId }))?.id };
}

/** Whether the caller may see a task: of a workspace it belongs to (by id: a rename keeps them). */
function canSee(p: Principal, t: TaskRow): boolean {
  if (serviceHolds(p, 'tasks') || p.isAdmin) return true;
  if (t.workspace_id === null) return Boolean(p.workspaces[t.workspace]);
  return Object.values(p.workspaces).some((w) => w.id === t.workspace_id);
}

export function controllerRoutes(app: App, ctx: ControllerContext): void {
  const who = (req: { headers: import('node:http').IncomingHttpHeaders }) =>
    authenticate(ctx.auth, req.headers);
  const accepted = <A extends Accepted>(reply: FastifyReply, a: A) =>
    reply.status(202).header('location', `/task/${a.task_id}/`).send(a);
  const kinds = { tags: ['tasks'] };

  app.post(
    '/vms/',
    { schema: { body: VmPost, response: { 202: VmAccepted, ...errors }, tags: ['vms'] } },
    async (req, reply) => accepted(reply, await createVm(ctx, await who(req), req.body, req.id)),
  );
  app.put('/vms/', { schema: { body: VmPut, response: accepts, tags: ['vms'] } }, async (req, reply) =>
    accepted(reply, await updateVm(ctx, await who(req), req.body, req.id)),
  );
  app.delete('/vms/', { schema: { body: Target, response: accepts, tags: ['vms'] } }, async (req, reply) =>
    accepted(reply, await deleteVm(ctx, await who(req), req.body, req.id)),
  );
  app.post(
    '/vms/power/',
    { schema: { body: VmPower, response: accepts, tags: ['vms'] } },
    async (req, reply) => accepted(reply, await powerVm(ctx, await who(req), req.body, req.id)),
  );

  // A VM's snapshots (issue 15): taken in the state the VM is in (running: with its memory; stopped: disk).
  const snaps = { tags: ['snapshots'] };
  app.post(
    '/snapshots/',
    { schema: { body: SnapshotTarget, response: accepts, ...snaps } },
    async (req, reply) => accepted(reply, await snapshotVm(ctx, await who(req), req.body, 'create', req.id)),
  );
  app.post(
    '/snapshots/revert/',
    { schema: { body: SnapshotTarget, response: accepts, ...snaps } },
    async (req, reply) => accepted(reply, await snapshotVm(ctx, await who(req), req.body, 'revert', req.id)),
  );
  app.delete(
    '/snapshots/',
    { schema: { body: SnapshotTarget, response: accepts, ...snaps } },
    async (req, reply) => accepted(reply, await snapshotVm(ctx, await who(req), req.body, 'delete', req.id)),
  );

  app.post(
    '/vms/migrate/',
    { schema: { body: VmMigrate, response: accepts, tags: ['vms'] } },
    async (req, reply) => accepted(reply, await migrateVm(ctx, await who(req), req.body, req.id)),
  );

  app.post(
    '/hosts/drain/',
    { schema: { body: HostTarget, response: accepts, tags: ['hosts'] } },
    async (req, reply) => accepted(reply, await drainHost(ctx, await who(req), req.body, req.id)),
  );
  app.post(
    '/hosts/restore/',
    { schema: { body: HostTarget, response: accepts, tags: ['hosts'] } },
    async (req, reply) => accepted(reply, await restoreHost(ctx, await who(req), req.body, req.id)),
  );

  app.post(
    '/networks/',
    { schema: { body: NetworkPost, response: accepts, tags: ['networks'] } },
    async (req, reply) => accepted(reply, await createNetwork(ctx, await who(req), req.body, req.id)),
  );
  app.put(
    '/networks/',
    { schema: { body: NetworkPut, response: accepts, tags: ['networks'] } },
    async (req, reply) => accepted(reply, await updateNetwork(ctx, await who(req), req.body, req.id)),
  );
  app.delete(
    '/networks/',
    { schema: { body: Target, response: accepts, tags: ['networks'] } },
    async (req, reply) => accepted(reply, await deleteNetwork(ctx, await who(req), req.body, req.id)),
  );

  app.post(
    '/routers/',
    { schema: { body: Target, response: accepts, tags: ['routers'] } },
    async (req, reply) => accepted(reply, await createRouter(ctx, await who(req), req.body, req.id)),
  );
  app.delete(
    '/routers/',
    { schema: { body: Target, response: accepts, tags: ['routers'] } },
    async (req, reply) => accepted(reply, await deleteRouter(ctx, await who(req), req.body, req.id)),
  );

  const sg = { tags: ['security groups'] };
  app.post(
    '/security_groups/',
    { schema: { body: SecurityGroupPost, response: accepts, ...sg } },
    async (req, reply) => accepted(reply, await createSecurityGroup(ctx, await who(req), req.body, req.id)),
  );
  app.put(
    '/security_groups/',
    { schema: { body: SecurityGroupPut, response: accepts, ...sg } },
    async (req, reply) => accepted(reply, await updateSecurityGroup(ctx, await who(req), req.body, req.id)),
  );
  app.delete(
    '/security_groups/',
    { schema: { body: Target, response: accepts, ...sg } },
    async (req, reply) => accepted(reply, await deleteSecurityGroup(ctx, await who(req), req.body, req.id)),
  );

  app.post(
    '/interfaces/',
    { schema: { body: InterfacePost, response: accepts, tags: ['routers'] } },
    async (req, reply) =>
      accepted(reply, await changeInterface(ctx, await who(req), req.body, 'POST', req.id)),
  );
  app.delete(
    '/interfaces/',
    { schema: { body: InterfaceDelete, response: accepts, tags: ['routers'] } },
    async (req, reply) =>
      accepted(reply, await changeInterface(ctx, await who(req), req.body, 'DELETE', req.id)),
  );

  // A whole workspace (its owner or an admin): every VM, router and network deleted through their workers.
  app.delete(
    '/workspaces/',
    { schema: { body: WorkspaceTarget, response: accepts, tags: ['workspaces'] } },
    async (req, reply) => accepted(reply, await deleteWorkspace(ctx, await who(req), req.body, req.id)),
  );

  app.get(
    '/task/:id/',
    { schema: { params: TaskParams, querystring: WaitQuery, response: { 200: Task, ...errors }, ...kinds } },
    async (req) => {
      const p = await who(req);
      let t = await getTask(ctx.db, req.params.id);
      // A task of another workspace answers as an unknown one: its id tells nothing, not even the workspace name.
      if (!t || !canSee(p, t)) throw notFound('id', `no task ${req.params.id}`);
      // Like Incus's operations/wait: block until the task ends or the wait runs out.
      const deadline = Date.now() + Math.min(Number(req.query.wait ?? 0), 120) * 1000;
      while (!FINISHED.includes(t.status) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        t = (await getTask(ctx.db, req.params.id))!;
      }
      return taskView(t, p.isAdmin || p.isService);
    },
  );

  const lists: [string, TaskFilter][] = [
    ['tasks', 'all'],
    ['running_tasks', 'running'],
    ['finished_tasks', 'finished'],
  ];
  for (const [path, filter] of lists) {
    app.get(
      `/${path}/:ws/`,
      {
        schema: {
          params: TaskListParams,
          querystring: TaskListQuery,
          response: { 200: TaskList, ...errors },
          ...kinds,
        },
      },
      async (req) => {
        const p = await who(req);
        const ws = await workspaceOf(ctx, p, req.params.ws, req.id);
        const limit = Math.min(Math.max(Number(req.query.limit ?? 100), 1), 1000);
        const rows = await listTasks(ctx.db, ws, filter, limit, req.query.marker);
        return { tasks: rows.map((t) => taskView(t, p.isAdmin || p.isService)) };
      },
    );
  }
}
