// Login throttling: failed attempts counted per user and per client address in a sliding window. Over the
// limit, logins are refused with 429 before the password is even checked. Counts live in the instance; with
// several inventory instances an attacker gets at most the limit per instance.

export interface Throttle {
  /** Seconds to wait, or 0 when an attempt is allowed. */
  retryAfter(key: string): number;
  fail(key: string): void;
  reset(key: string): void;
}

export function createThrottle(limit: number, windowSeconds: number, now: () => number = Date.now): Throttle {
  const failures = new Map<string, number[]>();
  const windowMs = windowSeconds * 1000;
  const recent = (key: string) => {
    const t = now();
    const kept = (failures.get(key) ?? []).filter((x) => t - x < windowMs);
    if (kept.length) failures.set(key, kept);
    else failures.delete(key);
    return kept;
  };
  return {
    retryAfter(key) {
      const r = recent(key);
      return r.length < limit ? 0 : Math.max(1, Math.ceil((r[0] + windowMs - now()) / 1000));
    },
    fail(key) {
      const r = recent(key);
      r.push(now());
      failures.set(key, r.slice(-limit));
    },
    reset(key) {
      failures.delete(key);
    },
  };
}
