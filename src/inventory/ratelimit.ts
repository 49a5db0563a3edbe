// Throttling of logins, service-token requests and signups (issue 14.7). Every attempt takes a ticket
// before the password is checked, in one statement that counts it and sets when the next one may come: a
// concurrent burst queues on the key's row and cannot slip past the count. The first `free` attempts of a
// key come at once; each one after them waits twice as long as the one before (`baseDelay` seconds,
// doubling, at most the window): growing delays, never a lock. A refused attempt is not counted, a quiet
// window forgets the key, and a success starts it over (reset) or gives its ticket back (refund). The
// tickets live in inventory's database, so every inventory instance counts the same attempts.
import type { Kysely } from 'kysely';
import { throttleRepository } from './repositories/identity.ts';
import type { InventoryDB } from './schema.ts';

export interface Throttle {
  /** Takes an attempt: 0 when it may go ahead (it is counted), else the seconds to wait (not counted). */
  take(key: string): Promise<number>;
  /** The attempt went well: the key starts over. */
  reset(key: string): Promise<void>;
  /** The attempt went well: its ticket is given back (the key keeps counting the others). */
  refund(key: string): Promise<void>;
}

export interface ThrottleOptions {
  /** Attempts that come at once. */
  free: number;
  /** Seconds of quiet after which a key is forgotten; also the longest wait. */
  windowSeconds: number;
  /** The wait after the last free attempt, in seconds; it doubles with each attempt after. */
  baseDelay: number;
  now?: () => number;
}

export function createThrottle(db: Kysely<InventoryDB>, o: ThrottleOptions): Throttle {
  const now = o.now ?? Date.now;
  const tickets = throttleRepository(db);
  const rule = { free: o.free, base: Math.min(o.baseDelay, o.windowSeconds), max: o.windowSeconds };
  return {
    async take(key) {
      const at = new Date(now());
      const cutoff = new Date(at.getTime() - o.windowSeconds * 1000);
      if (await tickets.take(key, at, cutoff, rule)) {
        // Keys quiet for a window count for nothing: drop them (every key's, so the table stays small).
        await tickets.deleteUpTo(cutoff);
        return 0;
      }
      const next = (await tickets.nextAt(key)) ?? at;
      return Math.max(1, Math.ceil((new Date(next).getTime() - at.getTime()) / 1000));
    },
    reset: (key) => tickets.deleteKey(key),
    refund: (key) => tickets.refund(key, new Date(now()), o.free),
  };
}
