// The controller API (DESIGN "Public APIs"): the only way to create, edit or delete VMs, networks, routers
// and interfaces; answers 202 with the task and a Location to follow it.
import type { FastifyReply } from 'fastify';
import { Type } from 'typebox';
import { authenticate, type Principal } from '../lib/auth.ts';
import { notAllowed, notFound } from '../lib/errors.ts';
import type { App } from '../lib/http.ts';
import { Name } from '../lib/names.ts';
import type { ControllerContext } from './context.ts';
import { FINISHED } from './schema.ts';
import { getTask, listTasks, type TaskFilter, type TaskRow } from './store.ts';
import type { Accepted } from './usecases/accept.ts';
import {
  changeInterface,
  createNetwork,
  createRouter,
  deleteNetwork,
  deleteRouter,
  updateNetwork,
} from './usecases/networks.ts';
import { createVm, deleteVm, updateVm } from './usecases/vms.ts';

const Owner = Name('workspace that owns the object');
const Description = Type.Optional(Type.String({ maxLength: 1024 }));
const Networks = Type.Array(Name('network'), { maxItems: 16, uniqueItems: true });
const Target = Type.Object({ owner: Owner, name: Name() });

const VmPost = Type.Object({
  name: Name(),
  description: Description,
  owner: Owner,
  networks: Type.Optional(Networks),
  area: Name('area'),
  template: Name('template'),
  password: Type.String({
    minLength: 1,
    maxLength: 128,
    pattern: '^[^\\n\\r\\x00]*$',
    description: 'root password of the guest',
  }),
  runcmd: Type.Optional(
    Type.Array(Type.String({ minLength: 1, maxLength: 1024, pattern: '^[^\\n\\r\\x00]*$' }), {
      maxItems: 32,
      description: 'shell lines the guest runs at first boot',
    }),
  ),
});
const VmPut = Type.Object({
  owner: Owner,
  name: Name(),
  update_dict: Type.Object({
    name: Type.Optional(Name()),
    description: Description,
    networks: Type.Optional(Networks),
  }),
});
const NetworkPost = Type.Object({
  owner: Owner,
  name: Name(),
  description: Description,
  subnet: Type.Optional(Type.String({ maxLength: 18 })),
});
const NetworkPut = Type.Object({
  owner: Owner,
  name: Name(),
  update_dict: Type.Object({ name: Type.Optional(Name()), description: Description }),
});
const InterfacePost = Type.Object({
  owner: Owner,
  router: Name('router'),
  network: Name('network'),
  ip: Type.String({ maxLength: 15 }),
});
const InterfaceDelete = Type.Object({ owner: Owner, router: Name('router'), network: Name('network') });
const TaskParams = Type.Object({ id: Type.String({ pattern: '^[0-9a-f-]{36}$' }) });
const WaitQuery = Type.Object({
  wait: Type.Optional(
    Type.String({ pattern: '^[0-9]{1,3}$', description: 'seconds to wait for the task to end (max 120)' }),
  ),
});
const WsParams = Type.Object({ ws: Name('workspace') });
const ListQuery = Type.Object({ limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$' })) });

/** A task as the API shows it (the message body, with its password, is never shown). */
export function taskView(t: TaskRow) {
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
    error: t.error,
    username: t.username,
    request_id: t.request_id,
    created_at: t.created_at,
    updated_at: t.updated_at,
    finished_at: t.finished_at,
  };
}

function canSeeWorkspace(p: Principal, ws: string) {
  if (!p.isService && !p.isAdmin && !p.workspaces[ws])
    throw notAllowed(`not a member of workspace ${ws}`, 'workspace');
}

export function controllerRoutes(app: App, ctx: ControllerContext): void {
  const who = (req: { headers: import('node:http').IncomingHttpHeaders }) =>
    authenticate(ctx.verifier, req.headers);
  const accepted = (reply: FastifyReply, a: Accepted) =>
    reply.status(202).header('location', `/task/${a.task_id}/`).send(a);
  const kinds = { tags: ['tasks'] };

  app.post('/vms/', { schema: { body: VmPost, tags: ['vms'] } }, async (req, reply) =>
    accepted(reply, await createVm(ctx, await who(req), req.body, req.id)),
  );
  app.put('/vms/', { schema: { body: VmPut, tags: ['vms'] } }, async (req, reply) =>
    accepted(reply, await updateVm(ctx, await who(req), req.body, req.id)),
  );
  app.delete('/vms/', { schema: { body: Target, tags: ['vms'] } }, async (req, reply) =>
    accepted(reply, await deleteVm(ctx, await who(req), req.body, req.id)),
  );

  app.post('/networks/', { schema: { body: NetworkPost, tags: ['networks'] } }, async (req, reply) =>
    accepted(reply, await createNetwork(ctx, await who(req), req.body, req.id)),
  );
  app.put('/networks/', { schema: { body: NetworkPut, tags: ['networks'] } }, async (req, reply) =>
    accepted(reply, await updateNetwork(ctx, await who(req), req.body, req.id)),
  );
  app.delete('/networks/', { schema: { body: Target, tags: ['networks'] } }, async (req, reply) =>
    accepted(reply, await deleteNetwork(ctx, await who(req), req.body, req.id)),
  );

  app.post('/routers/', { schema: { body: Target, tags: ['routers'] } }, async (req, reply) =>
    accepted(reply, await createRouter(ctx, await who(req), req.body, req.id)),
  );
  app.delete('/routers/', { schema: { body: Target, tags: ['routers'] } }, async (req, reply) =>
    accepted(reply, await deleteRouter(ctx, await who(req), req.body, req.id)),
  );

  app.post('/interfaces/', { schema: { body: InterfacePost, tags: ['routers'] } }, async (req, reply) =>
    accepted(reply, await changeInterface(ctx, await who(req), req.body, 'POST', req.id)),
  );
  app.delete('/interfaces/', { schema: { body: InterfaceDelete, tags: ['routers'] } }, async (req, reply) =>
    accepted(reply, await changeInterface(ctx, await who(req), req.body, 'DELETE', req.id)),
  );

  app.get('/task/:id/', { schema: { params: TaskParams, querystring: WaitQuery, ...kinds } }, async (req) => {
    const p = await who(req);
    let t = await getTask(ctx.db, req.params.id);
    // A task of another workspace answers as an unknown one: its id tells nothing, not even the workspace name.
    if (!t || (!p.isService && !p.isAdmin && !p.workspaces[t.workspace]))
      throw notFound('id', `no task ${req.params.id}`);
    // Like Incus's operations/wait: block until the task ends or the wait runs out.
    const deadline = Date.now() + Math.min(Number(req.query.wait ?? 0), 120) * 1000;
    while (!FINISHED.includes(t.status) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      t = (await getTask(ctx.db, req.params.id))!;
    }
    return taskView(t);
  });

  const lists: [string, TaskFilter][] = [
    ['tasks', 'all'],
    ['running_tasks', 'running'],
    ['finished_tasks', 'finished'],
  ];
  for (const [path, filter] of lists) {
    app.get(
      `/${path}/:ws/`,
      { schema: { params: WsParams, querystring: ListQuery, ...kinds } },
      async (req) => {
        canSeeWorkspace(await who(req), req.params.ws);
        const limit = Math.min(Math.max(Number(req.query.limit ?? 100), 1), 1000);
        return { tasks: (await listTasks(ctx.db, req.params.ws, filter, limit)).map(taskView) };
      },
    );
  }
}
