// Who may do what in inventory. Membership is read from the database (authoritative; a token's workspace
// claims can be minutes old). A non-member gets the same 403 whether the workspace exists or not, so
// workspace names of others never leak.
import type { FastifyRequest } from 'fastify';
import {
  authenticate,
  ALL_PERMISSIONS,
  type Permission,
  type Permissions,
  type Principal,
} from '../lib/auth.ts';
import { notAllowed, notFound } from '../lib/errors.ts';
import { PERMISSIONS } from '../lib/auth.ts';
import type { InventoryContext } from './context.ts';

export async function principal(ctx: InventoryContext, req: FastifyRequest): Promise<Principal> {
  return authenticate(ctx.verifier, req.headers);
}

export interface Membership {
  workspaceId: number;
  perms: Permissions;
}

/** The caller's standing in a workspace; admins and services stand everywhere with every permission. */
export async function membership(ctx: InventoryContext, p: Principal, ws: string): Promise<Membership> {
  if (p.isAdmin || p.isService) {
    const w = await ctx.db.selectFrom('workspaces').select('id').where('name', '=', ws).executeTakeFirst();
    if (!w) throw notFound('workspace', `no workspace ${ws}`);
    return { workspaceId: w.id, perms: ALL_PERMISSIONS };
  }
  const row = await ctx.db
    .selectFrom('members')
    .innerJoin('workspaces', 'workspaces.id', 'members.workspace_id')
    .innerJoin('users', 'users.id', 'members.user_id')
    .select(['workspaces.id as workspaceId', ...PERMISSIONS.map((x) => `members.${x}` as const)])
    .where('workspaces.name', '=', ws)
    .where('users.username', '=', p.username)
    .executeTakeFirst();
  if (!row) throw notAllowed(`not a member of workspace ${ws}`, 'workspace');
  const perms = Object.fromEntries(PERMISSIONS.map((x) => [x, row[x]])) as Permissions;
  return { workspaceId: row.workspaceId, perms };
}

export async function requireMember(
  ctx: InventoryContext,
  p: Principal,
  ws: string,
  permission?: Permission,
) {
  const m = await membership(ctx, p, ws);
  if (permission && !m.perms[permission])
    throw notAllowed(`missing permission ${permission} in workspace ${ws}`);
  return m;
}

/** Workspace objects (VMs, networks, routers) are written by services only: users go through the controller. */
export async function requireServiceWriter(ctx: InventoryContext, p: Principal, ws: string) {
  if (!p.isService) throw notAllowed('only service tokens write workspace objects; use the controller');
  return membership(ctx, p, ws);
}

export function pageSize(limit: string | undefined): number {
  const n = limit === undefined ? 1000 : Number(limit);
  return Math.min(Math.max(n, 1), 1000);
}
