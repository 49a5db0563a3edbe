// The feed of authorization changes services read to drop what they cached (src/lib/authority.ts).
import { sql } from 'kysely';
import type { Db } from './index.ts';

export type AuthChangeKind = 'user' | 'revoke' | 'keys';

/** Changes older than this go (the newest always stays, so a reader can tell it missed some). */
const KEEP_MS = 60 * 60_000;

export function authChangesRepository(db: Db) {
  async function append(tx: Db, kind: AuthChangeKind, userIds: (number | null)[], detail?: string) {
    // One writer at a time, so seq order is commit order: a reader that saw seq n has seen every change
    // before it (a concurrent writer holding a smaller seq could otherwise commit after the reader passed).
    await sql`lock table auth_changes in share row exclusive mode`.execute(tx);
    await tx
      .insertInto('auth_changes')
      .values(userIds.map((user_id) => ({ kind, user_id, detail: detail ?? null })))
      .execute();
    await tx
      .deleteFrom('auth_changes')
      .where('at', '<', new Date(Date.now() - KEEP_MS))
      .where(
        'seq',
        '<',
        tx.selectFrom('auth_changes').select((eb) => eb.fn.max('seq').as('m')),
      )
      .execute();
  }
  return {
    /** Records that these users' standing changed (in the caller's transaction when there is one). */
    async append(kind: AuthChangeKind, userIds: (number | null)[], detail?: string) {
      if (!userIds.length) return;
      if (db.isTransaction) await append(db, kind, userIds, detail);
      else await db.transaction().execute((tx) => append(tx, kind, userIds, detail));
    },
    since: (after: number, limit: number) =>
      db
        .selectFrom('auth_changes')
        .select(['seq', 'kind', 'user_id as uid'])
        .where('seq', '>', after)
        .orderBy('seq')
        .limit(limit)
        .execute(),
    bounds: async () => {
      const r = await db
        .selectFrom('auth_changes')
        .select((eb) => [eb.fn.min('seq').as('oldest'), eb.fn.max('seq').as('latest')])
        .executeTakeFirstOrThrow();
      return { oldest: Number(r.oldest ?? 0), latest: Number(r.latest ?? 0) };
    },
    /** The signing key the last `keys` change recorded. */
    lastKey: async () =>
      (
        await db
          .selectFrom('auth_changes')
          .select('detail')
          .where('kind', '=', 'keys')
          .orderBy('seq', 'desc')
          .limit(1)
          .executeTakeFirst()
      )?.detail,
  };
}
