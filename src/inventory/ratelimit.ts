// Login throttling: failed attempts counted per user and per client address in a sliding window. Over the
// limit, logins are refused with 429 before the password is even checked. The failures live in inventory's
// database, so every inventory instance behind a load balancer counts the same attempts.
import type { Kysely } from 'kysely';
import { loginFailuresRepository } from './repositories/identity.ts';
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
  const failures = loginFailuresRepository(db);
  return {
    async retryAfter(key) {
      const recent = await failures.recent(key, cutoff(), limit);
      if (recent.length < limit) return 0;
      // Allowed again when the oldest of the last `limit` failures leaves the window.
      const oldest = new Date(recent[recent.length - 1].failed_at).getTime();
      return Math.max(1, Math.ceil((oldest + windowMs - now()) / 1000));
    },
    async fail(key) {
      await failures.insert(key, new Date(now()));
      // Failures out of the window count for nothing: drop them (every key's, so the table stays small).
      await failures.deleteUpTo(cutoff());
    },
    async reset(key) {
      await failures.deleteKey(key);
    },
  };
}
