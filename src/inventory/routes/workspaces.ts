// Workspaces and their members. The creator becomes a member with every permission; user_can_add/edit/delete
// decide who may manage members; deleting a workspace deletes its objects (foreign keys cascade).

import { ALL_PERMISSIONS, PERMISSIONS, RESERVED_CLAIM_NAMES, type Permissions } from '../../lib/auth.ts';
import { conflict, inputError, notAllowed, notFound } from '../../lib/errors.ts';
import { isUniqueViolation } from '../../lib/db.ts';
import type { App } from '../../lib/http.ts';
import { membership, pageSize, principal, requireMember } from '../access.ts';
import type { InventoryContext } from '../context.ts';
import { ListQuery, MemberBody, MemberUpdate, WorkspaceBody, WsNameParams, WsParams } from '../schemas.ts';

function permsOf(body: Partial<Record<string, unknown>>): Partial<Permissions> {
  const out: Partial<Permissions> = {};
  for (const p of PERMISSIONS) if (typeof body[p] === 'boolean') out[p] = body[p];
  return out;
}

async function listMembers(ctx: InventoryContext, workspaceId: number, name?: string) {
  let q = ctx.db
    .selectFrom('members')
    .innerJoin('users', 'users.id', 'members.user_id')
    .select(['users.username as name', 'users.email', ...PERMISSIONS.map((p) => `members.${p}` as const)])
    .where('members.workspace_id', '=', workspaceId)
    .orderBy('users.username');
  if (name) q = q.where('users.username', '=', name);
  return q.execute();
}

export function workspaceRoutes(app: App, ctx: InventoryContext): void {
  const tags = ['workspaces'];
  // First path segments of the inventory's own routes: a workspace of such a name would be shadowed by them
  // (GET /templates/vms/ is the template "vms"), so those names are refused. The ones registered before this
  // point are listed; later ones (catalogue, dashboard) are collected as they are registered.
  const routeNames = new Set([
    'signup',
    'login',
    'logout',
    'get_token',
    'service_token',
    '.well-known',
    'workspaces',
    'healthz',
    'metrics',
    'openapi.json',
  ]);
  app.addHook('onRoute', (r) => {
    const first = r.url.split('/')[1];
    if (first && !first.startsWith(':') && !first.startsWith('*')) routeNames.add(first);
  });
  app.get('/workspaces/', { schema: { querystring: ListQuery, tags } }, async (req) => {
    const p = await principal(ctx, req);
    let q = ctx.db
      .selectFrom('workspaces')
      .select('workspaces.name')
      .orderBy('workspaces.name')
      .limit(pageSize(req.query.limit));
    if (req.query.marker) q = q.where('workspaces.name', '>', req.query.marker);
    if (!p.isAdmin && !p.isService)
      q = q
        .innerJoin('members', 'members.workspace_id', 'workspaces.id')
        .innerJoin('users', 'users.id', 'members.user_id')
        .where('users.username', '=', p.username);
    return { workspaces: await q.execute() };
  });

  app.post('/workspaces/', { schema: { body: WorkspaceBody, tags } }, async (req, reply) => {
    const p = await principal(ctx, req);
    const { name } = req.body;
    // Workspace names become keys of token claims: Object.prototype's own names (__proto__, constructor...) are refused.
    if (RESERVED_CLAIM_NAMES.has(name) || routeNames.has(name) || name in Object.prototype)
      throw inputError('name', `workspace name ${name} is reserved`);
    const user = await ctx.db
      .selectFrom('users')
      .select('id')
      .where('username', '=', p.username)
      .executeTakeFirst();
    if (!user) throw notAllowed('only user accounts create workspaces');
    try {
      await ctx.db.transaction().execute(async (tx) => {
        const w = await tx
          .insertInto('workspaces')
          .values({ name })
          .returning('id')
          .executeTakeFirstOrThrow();
        await tx
          .insertInto('members')
          .values({ workspace_id: w.id, user_id: user.id, ...ALL_PERMISSIONS })
          .execute();
      });
    } catch (e) {
      if (isUniqueViolation(e)) throw conflict('name', `workspace ${name} exists`);
      throw e;
    }
    return reply.status(201).send({ name });
  });

  app.get('/workspaces/:ws/', { schema: { params: WsParams, tags } }, async (req) => {
    const m = await membership(ctx, await principal(ctx, req), req.params.ws);
    return { name: req.params.ws, users: await listMembers(ctx, m.workspaceId) };
  });

  app.delete('/workspaces/:ws/', { schema: { params: WsParams, tags } }, async (req) => {
    const p = await principal(ctx, req);
    const m = await requireMember(ctx, p, req.params.ws, 'user_can_delete');
    // The keys from vm_networks and router_interfaces to networks are NO ACTION, and PostgreSQL may check them
    // before the cascade from workspaces has removed the VMs and routers that hold them: a single delete of a
    // workspace whose networks are in use fails. Take the VMs (their links and leases cascade) and routers
    // (their interfaces cascade) first, in one transaction.
    await ctx.db.transaction().execute(async (tx) => {
      await tx.deleteFrom('vms').where('workspace_id', '=', m.workspaceId).execute();
      await tx.deleteFrom('routers').where('workspace_id', '=', m.workspaceId).execute();
      await tx.deleteFrom('workspaces').where('id', '=', m.workspaceId).execute();
    });
    return { name: req.params.ws, deleted: true };
  });

  app.get('/:ws/users/', { schema: { params: WsParams, tags } }, async (req) => {
    const m = await membership(ctx, await principal(ctx, req), req.params.ws);
    return { users: await listMembers(ctx, m.workspaceId) };
  });

  app.post('/:ws/users/', { schema: { params: WsParams, body: MemberBody, tags } }, async (req, reply) => {
    const m = await requireMember(ctx, await principal(ctx, req), req.params.ws, 'user_can_add');
    const user = await ctx.db
      .selectFrom('users')
      .select('id')
      .where('username', '=', req.body.name)
      .executeTakeFirst();
    if (!user) throw notFound('name', `no user ${req.body.name}`);
    try {
      await ctx.db
        .insertInto('members')
        .values({ workspace_id: m.workspaceId, user_id: user.id, ...permsOf(req.body) })
        .execute();
    } catch (e) {
      if (isUniqueViolation(e)) throw conflict('name', `${req.body.name} is already a member`);
      throw e;
    }
    return reply.status(201).send((await listMembers(ctx, m.workspaceId, req.body.name))[0]);
  });

  app.get('/:ws/users/:name/', { schema: { params: WsNameParams, tags } }, async (req) => {
    const m = await membership(ctx, await principal(ctx, req), req.params.ws);
    const [u] = await listMembers(ctx, m.workspaceId, req.params.name);
    if (!u) throw notFound('name', `${req.params.name} is not a member`);
    return u;
  });

  app.put(
    '/:ws/users/:name/',
    { schema: { params: WsNameParams, body: MemberUpdate, tags } },
    async (req) => {
      const m = await requireMember(ctx, await principal(ctx, req), req.params.ws, 'user_can_edit');
      const perms = permsOf(req.body);
      if (Object.keys(perms).length === 0)
        throw inputError('body', 'nothing to change: give permission flags');
      const r = await ctx.db
        .updateTable('members')
        .set(perms)
        .where('workspace_id', '=', m.workspaceId)
        .where('user_id', '=', (eb) =>
          eb.selectFrom('users').select('id').where('username', '=', req.params.name),
        )
        .executeTakeFirst();
      if (!r.numUpdatedRows) throw notFound('name', `${req.params.name} is not a member`);
      return (await listMembers(ctx, m.workspaceId, req.params.name))[0];
    },
  );

  app.delete('/:ws/users/:name/', { schema: { params: WsNameParams, tags } }, async (req) => {
    const m = await requireMember(ctx, await principal(ctx, req), req.params.ws, 'user_can_delete');
    const r = await ctx.db
      .deleteFrom('members')
      .where('workspace_id', '=', m.workspaceId)
      .where('user_id', '=', (eb) =>
        eb.selectFrom('users').select('id').where('username', '=', req.params.name),
      )
      .executeTakeFirst();
    if (!r.numDeletedRows) throw notFound('name', `${req.params.name} is not a member`);
    return { name: req.params.name, deleted: true };
  });
}
