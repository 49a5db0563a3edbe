// Workspaces and their members. The creator owns the workspace: the owner holds every permission, is removed
// only by handing ownership over, and alone (with admins) deletes it. Members manage members by their
// user_can_add/edit/delete flags, with two rules (issue 14.3): nobody edits its own flags, and a member grants
// or revokes only flags it holds itself. Services never manage members.
import {
  ALL_PERMISSIONS,
  PERMISSIONS,
  RESERVED_CLAIM_NAMES,
  type Permissions,
  serviceHolds,
  type Principal,
} from '../../lib/auth.ts';
import type {
  Member,
  MyInvitation,
  WorkspaceDetail,
  WorkspaceInvitation,
  WorkspaceUpdate,
} from '../../lib/contracts/inventory.ts';
import { DEFAULT_DESCRIPTION, DEFAULT_GROUP, DEFAULT_RULES } from '../../lib/contracts/secgroups.ts';
import { isUniqueViolation } from '../../lib/db.ts';
import { conflict, inputError, notAllowed, notFound } from '../../lib/errors.ts';
import type { Page, Repositories, Store } from '../repositories/index.ts';
import { membership, requireMember, requireNotDeleting, type Membership } from './access.ts';

function flagsOf(body: Partial<Record<string, unknown>>): Partial<Permissions> {
  const out: Partial<Permissions> = {};
  for (const p of PERMISSIONS) if (typeof body[p] === 'boolean') out[p] = body[p];
  return out;
}

/** Member management is for people: a service token (any service) never adds, edits or removes members. */
function requirePerson(p: Principal): void {
  if (p.isService) throw notAllowed('services do not manage members');
}

/** The flags `change` turns on or off relative to `current` must all be held by the caller. */
function requireHeld(m: Membership, current: Partial<Permissions>, change: Partial<Permissions>): void {
  const beyond = PERMISSIONS.filter(
    (p) => change[p] !== undefined && change[p] !== Boolean(current[p]),
  ).filter((p) => !m.perms[p]);
  if (beyond.length)
    throw notAllowed(
      `you may only grant or revoke permissions you hold: not ${beyond.join(', ')}`,
      beyond[0],
    );
}

/**
 * @param reservedNames first path segments of inventory's own routes: a workspace of such a name would be
 * shadowed by them (GET /templates/vms/ is the template "vms"), so those names are refused.
 */
export function workspacesService(
  store: Store,
  reservedNames: ReadonlySet<string>,
  limits: { maxMemberships: number; maxInvitations: number },
) {
  /** One membership more for the user, within the cap (the user's row is locked until `tx` ends). */
  async function roomFor(tx: Repositories, userId: number) {
    if ((await tx.users.lockAndCountMemberships(userId)) >= limits.maxMemberships)
      throw conflict(
        'name',
        `a user belongs to at most ${limits.maxMemberships} workspaces: leave one first`,
      );
  }
  const iso = (d: Date | string) => new Date(d).toISOString();
  const member = async (workspaceId: number, name: string): Promise<Member> => {
    const [m] = await store.members.list(workspaceId, name);
    if (!m) throw notFound('name', `${name} is not a member`);
    return m;
  };
  /** Changes a user's standing and tells the services, in one transaction. */
  async function changing(username: string, fn: (tx: Repositories) => Promise<void>) {
    const user = await store.users.idOf(username);
    if (!user) throw notFound('name', `${username} is not a member`);
    await store.transaction(async (tx) => {
      await fn(tx);
      await tx.authChanges.append('user', [user.id]);
    });
  }
  async function get(p: Principal, ws: string): Promise<WorkspaceDetail> {
    const m = await membership(store, p, ws);
    const w = await store.workspaces.byName(ws);
    if (!w) throw notFound('workspace', `no workspace ${ws}`);
    return {
      name: ws,
      id: m.workspaceId,
      owner: w.owner,
      state: w.state,
      users: await store.members.list(m.workspaceId),
    };
  }
  /** Names a workspace may not take: claim names, inventory's own first path segments, Object.prototype's. */
  function refuseReserved(name: string) {
    if (RESERVED_CLAIM_NAMES.has(name) || reservedNames.has(name) || name in Object.prototype)
      throw inputError('name', `workspace name ${name} is reserved`);
  }
  return {
    /** The caller's workspaces (every one for admins and services). */
    list: async (p: Principal, page: Page) =>
      store.workspaces.list(page, p.isAdmin || serviceHolds(p, 'workspaces.read') ? undefined : p.username),

    async create(p: Principal, name: string) {
      refuseReserved(name);
      const user = await store.users.idOf(p.username);
      if (!user) throw notAllowed('only user accounts create workspaces');
      try {
        await store.transaction(async (tx) => {
          await roomFor(tx, user.id);
          const id = await tx.workspaces.insert(name, user.id);
          await tx.members.insert(id, user.id, ALL_PERMISSIONS);
          await tx.authChanges.append('user', [user.id]);
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

    get,

    /**
     * Renames the workspace or hands it over to another member (its owner, or an admin for a workspace whose
     * owner is gone); the controller marks it being deleted (`state`).
     */
    async update(p: Principal, ws: string, b: WorkspaceUpdate): Promise<WorkspaceDetail> {
      const m = await membership(store, p, ws);
      if (b.state !== undefined) {
        // Checked whole before anything is written: a refused request changes nothing.
        if (!serviceHolds(p, 'workspaces.teardown'))
          throw notAllowed('only the controller marks a workspace being deleted', 'state');
        if (b.name !== undefined || b.owner !== undefined)
          throw inputError('state', 'state is changed alone, not with name or owner');
        await store.workspaces.setState(m.workspaceId, b.state);
        return get(p, ws);
      }
      requirePerson(p);
      if (!m.owner && !p.isAdmin) throw notAllowed(`only the owner of ${ws} changes it`);
      requireNotDeleting(m, ws);
      if (b.owner !== undefined) {
        const [target] = await store.members.list(m.workspaceId, b.owner);
        if (!target) throw inputError('owner', `${b.owner} is not a member of ${ws}`);
        const user = await store.users.idOf(b.owner);
        if (!user) throw inputError('owner', `no user ${b.owner}`);
        await store.transaction(async (tx) => {
          await tx.workspaces.setOwner(m.workspaceId, user.id);
          await tx.members.update(m.workspaceId, b.owner!, ALL_PERMISSIONS);
          await tx.authChanges.append('user', [user.id, ...(m.ownerId === null ? [] : [m.ownerId])]);
        });
      }
      const name = b.name ?? ws;
      if (name !== ws) {
        refuseReserved(name);
        try {
          // Members' standings name workspaces: every member's changes.
          await store.transaction(async (tx) => {
            await tx.workspaces.setName(m.workspaceId, name);
            await tx.authChanges.append('user', await tx.members.userIds(m.workspaceId));
          });
        } catch (e) {
          if (isUniqueViolation(e)) throw conflict('name', `workspace ${name} exists`);
          throw e;
        }
      }
      return get(p, name);
    },

    /**
     * Removes the workspace's records: the last step of the controller's teardown task (DELETE /workspaces/
     * on the controller), once its workers have deleted every VM, router and network.
     */
    async remove(p: Principal, ws: string) {
      if (!serviceHolds(p, 'workspaces.teardown'))
        throw notAllowed('a workspace is deleted through the controller (DELETE /workspaces/ there)');
      const m = await membership(store, p, ws);
      if (!m.deleting) throw conflict('workspace', `workspace ${ws} is not being deleted`);
      // The keys from vm_networks and router_interfaces to networks are NO ACTION, and PostgreSQL may check
      // them before the cascade from workspaces has removed the VMs and routers that hold them: a single
      // delete of a workspace whose networks are in use fails. Take the VMs (their links and leases cascade)
      // and routers (their interfaces cascade) first, in one transaction.
      await store.transaction(async (tx) => {
        await tx.authChanges.append('user', await tx.members.userIds(m.workspaceId));
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

    /**
     * Invites a user (issue 14.6): nobody becomes a member without accepting. The answer is the same whether
     * or not the name is a user's, so inviting tells nothing about which usernames exist.
     */
    async invite(p: Principal, ws: string, b: { name: string } & Partial<Record<string, unknown>>) {
      requirePerson(p);
      const m = await requireMember(store, p, ws, 'user_can_add');
      const flags = flagsOf(b);
      requireHeld(m, {}, flags);
      if ((await store.members.list(m.workspaceId, b.name)).length)
        throw conflict('name', `${b.name} is already a member`);
      if (
        !(await store.invitations.exists(m.workspaceId, b.name)) &&
        (await store.invitations.count(m.workspaceId)) >= limits.maxInvitations
      )
        throw conflict('name', `${ws} has ${limits.maxInvitations} invitations pending: cancel some first`);
      await store.invitations.upsert(m.workspaceId, b.name, m.userId ?? null, flags);
      return { name: b.name, invited: true as const };
    },

    /** The workspace's pending invitations (for members who may invite). */
    async invitations(p: Principal, ws: string): Promise<WorkspaceInvitation[]> {
      const m = await requireMember(store, p, ws, 'user_can_add');
      return (await store.invitations.ofWorkspace(m.workspaceId)).map((i) => ({
        ...i,
        created_at: iso(i.created_at),
      }));
    },

    async cancelInvitation(p: Principal, ws: string, name: string) {
      requirePerson(p);
      const m = await requireMember(store, p, ws, 'user_can_add');
      if (!(await store.invitations.take(m.workspaceId, name)))
        throw notFound('name', `no invitation of ${name}`);
      return { name, deleted: true as const };
    },

    /** The caller's own pending invitations. */
    async myInvitations(p: Principal): Promise<MyInvitation[]> {
      if (p.uid === undefined) throw notAllowed('only user accounts have invitations');
      return (await store.invitations.ofUser(p.username)).map((i) => ({
        ...i,
        created_at: iso(i.created_at),
      }));
    },

    /** The caller accepts an invitation and becomes a member with the flags it was invited with. */
    async accept(p: Principal, ws: string) {
      const user = await store.users.idOf(p.username);
      if (!user || p.isService) throw notAllowed('only user accounts accept invitations');
      const w = await store.workspaces.byName(ws);
      const none = () => notFound('workspace', `no invitation to ${ws}`);
      if (!w) throw none();
      const flags = await store.transaction(async (tx) => {
        const taken = await tx.invitations.take(w.id, p.username);
        if (!taken) throw none();
        await roomFor(tx, user.id);
        try {
          await tx.members.insert(w.id, user.id, taken);
        } catch (e) {
          if (isUniqueViolation(e)) throw conflict('workspace', `already a member of ${ws}`);
          throw e;
        }
        await tx.authChanges.append('user', [user.id]);
        return taken;
      });
      return { workspace: ws, ...flags };
    },

    async decline(p: Principal, ws: string) {
      const w = await store.workspaces.byName(ws);
      if (!w || !(await store.invitations.take(w.id, p.username)))
        throw notFound('workspace', `no invitation to ${ws}`);
      return { workspace: ws, declined: true as const };
    },

    async updateMember(p: Principal, ws: string, name: string, b: Partial<Record<string, unknown>>) {
      requirePerson(p);
      const m = await requireMember(store, p, ws, 'user_can_edit');
      const flags = flagsOf(b);
      if (Object.keys(flags).length === 0)
        throw inputError('body', 'nothing to change: give permission flags');
      if (name === p.username) throw notAllowed('nobody edits its own permissions', 'name');
      const target = await member(m.workspaceId, name);
      if (target.owner)
        throw notAllowed(`${name} owns ${ws} and holds every permission; ownership is handed over`, 'name');
      requireHeld(m, target, flags);
      await changing(name, async (tx) => {
        if (!(await tx.members.update(m.workspaceId, name, flags)))
          throw notFound('name', `${name} is not a member`);
      });
      return member(m.workspaceId, name);
    },

    /** Removes a member; a member may always remove itself (leave), but the owner hands ownership over first. */
    async removeMember(p: Principal, ws: string, name: string) {
      requirePerson(p);
      const leaving = name === p.username;
      const m = leaving
        ? await membership(store, p, ws)
        : await requireMember(store, p, ws, 'user_can_delete');
      const target = await member(m.workspaceId, name);
      if (target.owner)
        throw notAllowed(
          leaving
            ? `you own ${ws}: hand ownership over to another member before leaving`
            : `${name} owns ${ws}; only a hand-over changes the owner`,
          'name',
        );
      // Removing a member revokes every flag it holds: the remover must hold them all.
      if (!leaving) requireHeld(m, target, flagsOf(Object.fromEntries(PERMISSIONS.map((x) => [x, false]))));
      await changing(name, async (tx) => {
        if (!(await tx.members.remove(m.workspaceId, name)))
          throw notFound('name', `${name} is not a member`);
      });
      return { name, deleted: true as const };
    },
  };
}
export type WorkspacesService = ReturnType<typeof workspacesService>;
