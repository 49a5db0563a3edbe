// Who may do what in inventory. Membership is read from the database (authoritative; a token says who the
// caller is, never what it may do). A non-member gets the same 403 whether the workspace exists or not, so
// workspace names of others never leak.
import { ALL_PERMISSIONS, type Permission, type Permissions, type Principal } from '../../lib/auth.ts';
import { conflict, notAllowed, notFound } from '../../lib/errors.ts';
import { requireServiceRight } from '../../lib/rights.ts';
import { PERMISSIONS } from '../../lib/permissions.ts';
import type { Page, Repositories } from '../repositories/index.ts';

export interface Membership {
  workspaceId: number;
  perms: Permissions;
  /** The workspace's owner (null: none). */
  ownerId: number | null;
  /** The caller's user id when it is a member (admins and services stand without one). */
  userId?: number;
  /** The caller owns the workspace. */
  owner: boolean;
  /** An admin or a service: stands everywhere with every permission, without being a member. */
  operator: boolean;
  /** The workspace is being deleted (its teardown task runs). */
  deleting: boolean;
}

type Repos = Pick<Repositories, 'workspaces' | 'members'>;

/** The caller's standing in a workspace; admins and services stand everywhere with every permission. */
export async function membership(r: Repos, p: Principal, ws: string): Promise<Membership> {
  requireServiceRight(p, 'workspaces.read');
  if (p.isAdmin || p.isService) {
    const w = await r.workspaces.byName(ws);
    if (!w) throw notFound('workspace', `no workspace ${ws}`);
    return {
      workspaceId: w.id,
      perms: ALL_PERMISSIONS,
      ownerId: w.owner_id,
      owner: false,
      operator: true,
      deleting: w.state === 'X',
    };
  }
  const row = await r.members.flags(ws, p.username);
  if (!row) throw notAllowed(`not a member of workspace ${ws}`, 'workspace');
  const owner = row.ownerId === row.userId;
  // The owner holds every permission, whatever its row says.
  const perms = owner
    ? ALL_PERMISSIONS
    : (Object.fromEntries(PERMISSIONS.map((x) => [x, row[x]])) as Permissions);
  return {
    workspaceId: row.workspaceId,
    perms,
    ownerId: row.ownerId,
    userId: row.userId,
    owner,
    operator: false,
    deleting: row.state === 'X',
  };
}

/** Nothing new goes into a workspace being deleted. */
export function requireNotDeleting(m: Membership, ws: string): void {
  if (m.deleting) throw conflict('workspace', `workspace ${ws} is being deleted`);
}

export async function requireMember(r: Repos, p: Principal, ws: string, permission?: Permission) {
  // A member's flags are what a service never gets: members and the workspace itself are people's business.
  if (permission) requireServiceRight(p, 'workspaces.manage');
  const m = await membership(r, p, ws);
  if (permission && !m.perms[permission])
    throw notAllowed(`missing permission ${permission} in workspace ${ws}`);
  return m;
}

/** Workspace objects (VMs, networks, routers) are written by services only: users go through the controller. */
export async function requireServiceWriter(r: Repos, p: Principal, ws: string) {
  if (!p.isService) throw notAllowed('only service tokens write workspace objects; use the controller');
  requireServiceRight(p, 'objects.write');
  return membership(r, p, ws);
}

/** A page of a list from the query's limit (1-1000, default 100) and marker: a list's cost is its page's. */
export function page(q: { limit?: string; marker?: string }): Page {
  const n = q.limit === undefined ? 100 : Number(q.limit);
  return { limit: Math.min(Math.max(n, 1), 1000), marker: q.marker };
}
