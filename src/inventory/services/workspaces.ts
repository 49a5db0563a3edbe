// Workspaces and their members. The creator becomes a member with every permission; user_can_add/edit/delete
// decide who may manage members; deleting a workspace deletes its objects.
import {
  ALL_PERMISSIONS,
  PERMISSIONS,
  RESERVED_CLAIM_NAMES,
  type Permissions,
  type Principal,
} from '../../lib/auth.ts';
import type { Member, WorkspaceDetail } from '../../lib/contracts/inventory.ts';
import { DEFAULT_DESCRIPTION, DEFAULT_GROUP, DEFAULT_RULES } from '../../lib/contracts/secgroups.ts';
import { isUniqueViolation } from '../../lib/db.ts';
import { conflict, inputError, notAllowed, notFound } from '../../lib/errors.ts';
import type { Page, Store } from '../repositories/index.ts';
import { membership, requireMember } from './access.ts';

function flagsOf(body: Partial<Record<string, unknown>>): Partial<Permissions> {
  const out: Partial<Permissions> = {};
  for (const p of PERMISSIONS) if (typeof body[p] === 'boolean') out[p] = body[p];
  return out;
}

/**
 * @param reservedNames first path segments of inventory's own routes: a workspace of such a name would be
 * shadowed by them (GET /templates/vms/ is the template "vms"), so those names are refused.
 */
export function workspacesService(store: Store, reservedNames: ReadonlySet<string>) {
  const member = async (workspaceId: number, name: string): Promise<Member> => {
    const [m] = await store.members.list(workspaceId, name);
    if (!m) throw notFound('name', `${name} is not a member`);
    return m;
  };
  return {
    /** The caller's workspaces (every one for admins and services). */
    list: async (p: Principal, page: Page) =>
      store.workspaces.list(page, p.isAdmin || p.isService ? undefined : p.username),

    async create(p: Principal, name: string) {
      // Workspace names become keys of token claims: Object.prototype's own names (__proto__...) are refused.
      if (RESERVED_CLAIM_NAMES.has(name) || reservedNames.has(name) || name in Object.prototype)
        throw inputError('name', `workspace name ${name} is reserved`);
      const user = await store.users.idOf(p.username);
      if (!user) throw notAllowed('only user accounts create workspaces');
      try {
        await store.transaction(async (tx) => {
          const id = await tx.workspaces.insert(name);
          await tx.members.insert(id, user.id, ALL_PERMISSIONS);
          await tx.securityGroups.insert({
            workspace_id: id,
            name: DEFAULT_GROUP,
            description: DEFAULT_DESCRIPTION,
            rules: DEFAULT_RULES,
            task: null,
          });
        });
      } catch (e) {
        if (isUniqueViolation(e)) throw conflict('name', `workspace ${name} exists`);
        throw e;
      }
      return { name };
    },

    async get(p: Principal, ws: string): Promise<WorkspaceDetail> {
      const m = await membership(store, p, ws);
      return { name: ws, users: await store.members.list(m.workspaceId) };
    },

    async remove(p: Principal, ws: string) {
      const m = await requireMember(store, p, ws, 'user_can_delete');
      // The keys from vm_networks and router_interfaces to networks are NO ACTION, and PostgreSQL may check
      // them before the cascade from workspaces has removed the VMs and routers that hold them: a single
      // delete of a workspace whose networks are in use fails. Take the VMs (their links and leases cascade)
      // and routers (their interfaces cascade) first, in one transaction.
      await store.transaction(async (tx) => {
        await tx.vms.removeAllOf(m.workspaceId);
        await tx.routers.removeAllOf(m.workspaceId);
        await tx.workspaces.delete(m.workspaceId);
      });
      return { name: ws, deleted: true as const };
    },

    async members(p: Principal, ws: string) {
      const m = await membership(store, p, ws);
      return store.members.list(m.workspaceId);
    },

    async member(p: Principal, ws: string, name: string) {
      return member((await membership(store, p, ws)).workspaceId, name);
    },

    async addMember(p: Principal, ws: string, b: { name: string } & Partial<Record<string, unknown>>) {
      const m = await requireMember(store, p, ws, 'user_can_add');
      const user = await store.users.idOf(b.name);
      if (!user) throw notFound('name', `no user ${b.name}`);
      try {
        await store.members.insert(m.workspaceId, user.id, flagsOf(b));
      } catch (e) {
        if (isUniqueViolation(e)) throw conflict('name', `${b.name} is already a member`);
        throw e;
      }
      return member(m.workspaceId, b.name);
    },

    async updateMember(p: Principal, ws: string, name: string, b: Partial<Record<string, unknown>>) {
      const m = await requireMember(store, p, ws, 'user_can_edit');
      const flags = flagsOf(b);
      if (Object.keys(flags).length === 0)
        throw inputError('body', 'nothing to change: give permission flags');
      if (!(await store.members.update(m.workspaceId, name, flags)))
        throw notFound('name', `${name} is not a member`);
      return member(m.workspaceId, name);
    },

    async removeMember(p: Principal, ws: string, name: string) {
      const m = await requireMember(store, p, ws, 'user_can_delete');
      if (!(await store.members.remove(m.workspaceId, name)))
        throw notFound('name', `${name} is not a member`);
      return { name, deleted: true as const };
    },
  };
}
export type WorkspacesService = ReturnType<typeof workspacesService>;
