// Login throttling: failed attempts counted per user and per client address in a sliding window. Over the
// limit, logins are refused with 429 before the password is even checked. The failures live in inventory's
// database, so every inventory instance behind a load balancer counts the same attempts.
import type { Kysely } from 'kysely';
import type { InventoryDB } from './schema.ts';

export interface Throttle {
  /** Seconds to wait, or 0 when an attempt is allowed. */
  retryAfter(key: string): Promise<number>;
  fail(key: string): Promise<void>;
  reset(key: string): Promise<void>;
}

export function createThrottle(
  db: Kysely<InventoryDB>,
  limit: number,
  windowSeconds: number,
  now: () => number = Date.now,
): Throttle {
  const windowMs = windowSeconds * 1000;
  const cutoff = () => new Date(now() - windowMs);
  return {
    async retryAfter(key) {
      const recent = await db
        .selectFrom('login_failures')
        .select('failed_at')
        .where('key', '=', key)
        .where('failed_at', '>', cutoff())
        .orderBy('failed_at', 'desc')
        .limit(limit)
        .execute();
      if (recent.length < limit) return 0;
      // Allowed again when the oldest of the last `limit` failures leaves the window.
      const oldest = new Date(recent[recent.length - 1].failed_at).getTime();
      return Math.max(1, Math.ceil((oldest + windowMs - now()) / 1000));
    },
    async fail(key) {
      await db
        .insertInto('login_failures')
        .values({ key, failed_at: new Date(now()) })
        .execute();
      // Failures out of the window count for nothing: drop them (every key's, so the table stays small).
      await db.deleteFrom('login_failures').where('failed_at', '<=', cutoff()).execute();
    },
    async reset(key) {
      await db.deleteFrom('login_failures').where('key', '=', key).execute();
    },
  };
}
