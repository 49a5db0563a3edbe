// Workspaces and their members.
import type { Permissions } from '../../lib/permissions.ts';
import { PERMISSIONS } from '../../lib/permissions.ts';
import type { Db, Page } from './index.ts';

export function workspacesRepository(db: Db) {
  return {
    idOf: (name: string) =>
      db.selectFrom('workspaces').select('id').where('name', '=', name).executeTakeFirst(),
    /** The workspace with its owner's name (null: no owner, e.g. the owner's account is gone). */
    byName: (name: string) =>
      db
        .selectFrom('workspaces')
        .leftJoin('users', 'users.id', 'workspaces.owner_id')
        .select([
          'workspaces.id',
          'workspaces.name',
          'workspaces.owner_id',
          'workspaces.state',
          'users.username as owner',
        ])
        .where('workspaces.name', '=', name)
        .executeTakeFirst(),
    /** Names, in order; with `member`, only the workspaces that user belongs to. */
    list(page: Page, member?: string) {
      let q = db
        .selectFrom('workspaces')
        .select('workspaces.name')
        .orderBy('workspaces.name')
        .limit(page.limit);
      if (page.marker) q = q.where('workspaces.name', '>', page.marker);
      if (member !== undefined)
        q = q
          .innerJoin('members', 'members.workspace_id', 'workspaces.id')
          .innerJoin('users', 'users.id', 'members.user_id')
          .where('users.username', '=', member);
      return q.execute();
    },
    insert: async (name: string, ownerId: number) =>
      (
        await db
          .insertInto('workspaces')
          .values({ name, owner_id: ownerId })
          .returning('id')
          .executeTakeFirstOrThrow()
      ).id,
    async setName(id: number, name: string) {
      await db.updateTable('workspaces').set({ name }).where('id', '=', id).execute();
    },
    async setState(id: number, state: 'U' | 'X') {
      await db.updateTable('workspaces').set({ state }).where('id', '=', id).execute();
    },
    async setOwner(id: number, ownerId: number) {
      await db.updateTable('workspaces').set({ owner_id: ownerId }).where('id', '=', id).execute();
    },
    async delete(id: number) {
      await db.deleteFrom('workspaces').where('id', '=', id).execute();
    },
  };
}

export function membersRepository(db: Db) {
  const users = (username: string) => db.selectFrom('users').select('id').where('username', '=', username);
  return {
    /** A user's flags in a workspace (undefined: not a member, or no such workspace). */
    flags: (workspace: string, username: string) =>
      db
        .selectFrom('members')
        .innerJoin('workspaces', 'workspaces.id', 'members.workspace_id')
        .innerJoin('users', 'users.id', 'members.user_id')
        .select([
          'workspaces.id as workspaceId',
          'workspaces.owner_id as ownerId',
          'workspaces.state',
          'users.id as userId',
          ...PERMISSIONS.map((x) => `members.${x}` as const),
        ])
        .where('workspaces.name', '=', workspace)
        .where('users.username', '=', username)
        .executeTakeFirst(),
    /** Members with their flags, by name (one when `name` is given); `owner` marks the owner. */
    list(workspaceId: number, name?: string) {
      let q = db
        .selectFrom('members')
        .innerJoin('users', 'users.id', 'members.user_id')
        .innerJoin('workspaces', 'workspaces.id', 'members.workspace_id')
        .select((eb) => [
          'users.username as name',
          eb('workspaces.owner_id', '=', eb.ref('members.user_id')).$castTo<boolean>().as('owner'),
          ...PERMISSIONS.map((p) => `members.${p}` as const),
        ])
        .where('members.workspace_id', '=', workspaceId)
        .orderBy('users.username');
      if (name) q = q.where('users.username', '=', name);
      return q.execute();
    },
    /** The ids of a workspace's members (whose standing a rename or a deletion changes). */
    userIds: async (workspaceId: number) =>
      (
        await db.selectFrom('members').select('user_id').where('workspace_id', '=', workspaceId).execute()
      ).map((r) => r.user_id),
    async insert(workspaceId: number, userId: number, flags: Partial<Permissions>) {
      await db
        .insertInto('members')
        .values({ workspace_id: workspaceId, user_id: userId, ...flags })
        .execute();
    },
    /** Answers how many members changed (0: not a member). */
    update: async (workspaceId: number, username: string, flags: Partial<Permissions>) =>
      (
        await db
          .updateTable('members')
          .set(flags)
          .where('workspace_id', '=', workspaceId)
          .where('user_id', '=', users(username))
          .executeTakeFirst()
      ).numUpdatedRows,
    remove: async (workspaceId: number, username: string) =>
      (
        await db
          .deleteFrom('members')
          .where('workspace_id', '=', workspaceId)
          .where('user_id', '=', users(username))
          .executeTakeFirst()
      ).numDeletedRows,
  };
}

export function invitationsRepository(db: Db) {
  const flags = PERMISSIONS.map((p) => `invitations.${p}` as const);
  return {
    /** Invites (again: the flags and inviter are updated). */
    async upsert(workspaceId: number, username: string, invitedBy: number | null, f: Partial<Permissions>) {
      const all = Object.fromEntries(PERMISSIONS.map((p) => [p, f[p] ?? false])) as Permissions;
      await db
        .insertInto('invitations')
        .values({ workspace_id: workspaceId, username, invited_by: invitedBy, ...all })
        .onConflict((oc) =>
          oc.columns(['workspace_id', 'username']).doUpdateSet({ invited_by: invitedBy, ...all }),
        )
        .execute();
    },
    count: async (workspaceId: number) =>
      Number(
        (
          await db
            .selectFrom('invitations')
            .select((eb) => eb.fn.countAll().as('n'))
            .where('workspace_id', '=', workspaceId)
            .executeTakeFirstOrThrow()
        ).n,
      ),
    exists: async (workspaceId: number, username: string) =>
      (await db
        .selectFrom('invitations')
        .select('username')
        .where('workspace_id', '=', workspaceId)
        .where('username', '=', username)
        .executeTakeFirst()) !== undefined,
    ofWorkspace: (workspaceId: number) =>
      db
        .selectFrom('invitations')
        .leftJoin('users as inviter', 'inviter.id', 'invitations.invited_by')
        .select([
          'invitations.username as name',
          'inviter.username as invited_by',
          'invitations.created_at',
          ...flags,
        ])
        .where('invitations.workspace_id', '=', workspaceId)
        .orderBy('invitations.username')
        .execute(),
    ofUser: (username: string) =>
      db
        .selectFrom('invitations')
        .innerJoin('workspaces', 'workspaces.id', 'invitations.workspace_id')
        .leftJoin('users as inviter', 'inviter.id', 'invitations.invited_by')
        .select([
          'workspaces.name as workspace',
          'inviter.username as invited_by',
          'invitations.created_at',
          ...flags,
        ])
        .where('invitations.username', '=', username)
        .orderBy('workspaces.name')
        .execute(),
    /** Removes an invitation; answers its flags, or undefined when there was none. */
    take: (workspaceId: number, username: string) =>
      db
        .deleteFrom('invitations')
        .where('workspace_id', '=', workspaceId)
        .where('username', '=', username)
        .returning(PERMISSIONS)
        .executeTakeFirst(),
  };
}
