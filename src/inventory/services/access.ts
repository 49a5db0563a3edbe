// Who may do what in inventory. Membership is read from the database (authoritative; a token's workspace
// claims can be minutes old). A non-member gets the same 403 whether the workspace exists or not, so
// workspace names of others never leak.
import { ALL_PERMISSIONS, type Permission, type Permissions, type Principal } from '../../lib/auth.ts';
import { notAllowed, notFound } from '../../lib/errors.ts';
import { PERMISSIONS } from '../../lib/permissions.ts';
import type { Page, Repositories } from '../repositories/index.ts';

export interface Membership {
  workspaceId: number;
  perms: Permissions;
}

type Repos = Pick<Repositories, 'workspaces' | 'members'>;

/** The caller's standing in a workspace; admins and services stand everywhere with every permission. */
export async function membership(r: Repos, p: Principal, ws: string): Promise<Membership> {
  if (p.isAdmin || p.isService) {
    const w = await r.workspaces.idOf(ws);
    if (!w) throw notFound('workspace', `no workspace ${ws}`);
    return { workspaceId: w.id, perms: ALL_PERMISSIONS };
  }
  const row = await r.members.flags(ws, p.username);
  if (!row) throw notAllowed(`not a member of workspace ${ws}`, 'workspace');
  const perms = Object.fromEntries(PERMISSIONS.map((x) => [x, row[x]])) as Permissions;
  return { workspaceId: row.workspaceId, perms };
}

export async function requireMember(r: Repos, p: Principal, ws: string, permission?: Permission) {
  const m = await membership(r, p, ws);
  if (permission && !m.perms[permission])
    throw notAllowed(`missing permission ${permission} in workspace ${ws}`);
  return m;
}

/** Workspace objects (VMs, networks, routers) are written by services only: users go through the controller. */
export async function requireServiceWriter(r: Repos, p: Principal, ws: string) {
  if (!p.isService) throw notAllowed('only service tokens write workspace objects; use the controller');
  return membership(r, p, ws);
}

/** A page of a list from the query's limit (1-1000, default 1000) and marker. */
export function page(q: { limit?: string; marker?: string }): Page {
  const n = q.limit === undefined ? 1000 : Number(q.limit);
  return { limit: Math.min(Math.max(n, 1), 1000), marker: q.marker };
}
