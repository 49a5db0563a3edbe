// Users, browser sessions and throttled attempts (logins, service tokens, signups).
import { sql, type RawBuilder } from 'kysely';
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
    async setPassword(userId: number, passwordHash: string) {
      await db.updateTable('users').set({ password_hash: passwordHash }).where('id', '=', userId).execute();
    },
    async setDisabled(userId: number, disabled: boolean) {
      await db.updateTable('users').set({ disabled }).where('id', '=', userId).execute();
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
    /** Ends every session of the user (a password changed or reset, an account disabled). */
    async deleteOfUser(userId: number) {
      await db.deleteFrom('sessions').where('user_id', '=', userId).execute();
    },
    async deleteExpired(now: Date) {
      await db.deleteFrom('sessions').where('expires_at', '<', now).execute();
    },
  };
}

/** The wait rule of a throttle: `free` attempts at once, then `base` seconds doubling up to `max`. */
export interface DelayRule {
  free: number;
  base: number;
  max: number;
}

export function throttleRepository(db: Db) {
  return {
    /**
     * Counts an attempt of `key` at `at` unless its wait runs (one statement: concurrent attempts queue on
     * the key's row); a key last seen at or before `cutoff` starts over. Answers whether it was counted.
     */
    async take(key: string, at: Date, cutoff: Date, r: DelayRule): Promise<boolean> {
      // The attempt's number: 1 for a key unseen or quiet since the cutoff.
      const n = sql<number>`(CASE WHEN t.last_at <= ${cutoff} THEN 1 ELSE t.attempts + 1 END)`;
      const wait = (k: RawBuilder<number>) =>
        sql<number>`(CASE WHEN ${k} < ${r.free} THEN 0::float8 ELSE LEAST(${r.max}::float8, ${r.base}::float8 * power(2::float8, LEAST(${k} - ${r.free}, 40)::float8)) END)`;
      const { rows } = await sql<{ attempts: number }>`
        INSERT INTO login_throttle AS t (key, attempts, next_at, last_at)
        VALUES (${key}, 1, ${at}::timestamptz + make_interval(secs => ${wait(sql<number>`1`)}), ${at})
        ON CONFLICT (key) DO UPDATE SET
          attempts = ${n},
          next_at = ${at}::timestamptz + make_interval(secs => ${wait(n)}),
          last_at = ${at}
        WHERE t.next_at <= ${at} OR t.last_at <= ${cutoff}
        RETURNING t.attempts`.execute(db);
      return rows.length > 0;
    },
    nextAt: async (key: string) =>
      (await db.selectFrom('login_throttle').select('next_at').where('key', '=', key).executeTakeFirst())
        ?.next_at,
    /** Gives one counted attempt back; under `free` again, the key need not wait. */
    async refund(key: string, at: Date, free: number) {
      await db
        .updateTable('login_throttle')
        .set({
          attempts: sql<number>`GREATEST(attempts - 1, 0)`,
          next_at: sql<Date>`CASE WHEN attempts - 1 < ${free} THEN LEAST(next_at, ${at}::timestamptz) ELSE next_at END`,
        })
        .where('key', '=', key)
        .execute();
    },
    async deleteKey(key: string) {
      await db.deleteFrom('login_throttle').where('key', '=', key).execute();
    },
    async deleteUpTo(cutoff: Date) {
      await db.deleteFrom('login_throttle').where('last_at', '<=', cutoff).execute();
    },
  };
}
