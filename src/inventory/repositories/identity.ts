// Users, browser sessions and failed logins.
import type { Db } from './index.ts';
import { PERMISSIONS } from '../../lib/permissions.ts';

export function usersRepository(db: Db) {
  return {
    idOf: (username: string) =>
      db.selectFrom('users').select('id').where('username', '=', username).executeTakeFirst(),
    credentials: (username: string) =>
      db
        .selectFrom('users')
        .select(['id', 'password_hash', 'disabled'])
        .where('username', '=', username)
        .executeTakeFirst(),
    find: (id: number) => db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst(),
    byId: (id: number) => db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirstOrThrow(),
    async insert(u: { username: string; email: string; password_hash: string; is_admin: boolean }) {
      await db.insertInto('users').values(u).execute();
    },
    /** Inserts unless the name is taken (several instances start at once); answers whether it did. */
    async insertOnce(u: { username: string; email: string; password_hash: string; is_admin: boolean }) {
      const r = await db
        .insertInto('users')
        .values(u)
        .onConflict((oc) => oc.column('username').doNothing())
        .returning('id')
        .executeTakeFirst();
      return r !== undefined;
    },
    /** The user's workspaces, by name, with its flags there and whether it owns them (its standing). */
    memberships: (userId: number) =>
      db
        .selectFrom('members')
        .innerJoin('workspaces', 'workspaces.id', 'members.workspace_id')
        .select((eb) => [
          'workspaces.id',
          'workspaces.name',
          eb('workspaces.owner_id', '=', eb.ref('members.user_id')).$castTo<boolean>().as('owner'),
          ...PERMISSIONS.map((p) => `members.${p}` as const),
        ])
        .where('members.user_id', '=', userId)
        .orderBy('workspaces.name')
        .execute(),
    /**
     * Locks the user's row until the transaction ends (one membership change at a time per user, so the
     * cap holds) and answers how many workspaces it belongs to.
     */
    async lockAndCountMemberships(userId: number) {
      await db.selectFrom('users').select('id').where('id', '=', userId).forUpdate().execute();
      const r = await db
        .selectFrom('members')
        .select((eb) => eb.fn.countAll().as('n'))
        .where('user_id', '=', userId)
        .executeTakeFirstOrThrow();
      return Number(r.n);
    },
    /** Revokes every token of the user (they carry the version they were signed at). */
    async bumpVersion(userId: number) {
      await db
        .updateTable('users')
        .set((eb) => ({ token_version: eb('token_version', '+', 1) }))
        .where('id', '=', userId)
        .execute();
    },
  };
}

export function sessionsRepository(db: Db) {
  return {
    byHash: (idHash: string) =>
      db
        .selectFrom('sessions')
        .select(['user_id', 'expires_at'])
        .where('id_hash', '=', idHash)
        .executeTakeFirst(),
    async insert(s: { id_hash: string; user_id: number; expires_at: Date }) {
      await db.insertInto('sessions').values(s).execute();
    },
    async delete(idHash: string) {
      await db.deleteFrom('sessions').where('id_hash', '=', idHash).execute();
    },
    async deleteExpired(now: Date) {
      await db.deleteFrom('sessions').where('expires_at', '<', now).execute();
    },
  };
}

export function loginFailuresRepository(db: Db) {
  return {
    /** The latest `limit` failures of a key after `since`, newest first. */
    recent: (key: string, since: Date, limit: number) =>
      db
        .selectFrom('login_failures')
        .select('failed_at')
        .where('key', '=', key)
        .where('failed_at', '>', since)
        .orderBy('failed_at', 'desc')
        .limit(limit)
        .execute(),
    async insert(key: string, at: Date) {
      await db.insertInto('login_failures').values({ key, failed_at: at }).execute();
    },
    async deleteUpTo(cutoff: Date) {
      await db.deleteFrom('login_failures').where('failed_at', '<=', cutoff).execute();
    },
    async deleteKey(key: string) {
      await db.deleteFrom('login_failures').where('key', '=', key).execute();
    },
  };
}
