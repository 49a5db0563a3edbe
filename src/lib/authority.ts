// Who may do what, now (issue 14.5, DESIGN "Tenant safety"). A token proves who the caller is; what a user may
// do is its standing in inventory: account state (token version, disabled, admin) and memberships, keyed by
// workspace id. Every service keeps standings in a cache fed by inventory's change feed (GET /auth/changes/,
// read every second): a change of a user's memberships or flags drops its standing, a revocation (logout,
// disable, password) also empties the verified-token cache, a new signing key empties both. So a removed
// member, a changed flag, a logout or a disabled account stops working everywhere within a poll or two.
// When the feed cannot be read for a while, cached standings are no longer trusted: each request reads its
// own (and fails with 503 while inventory is away) rather than acting on what may have been revoked.
import { unauthenticated, unavailable } from './errors.ts';
import type { Logger } from './log.ts';
import { createInventoryClient } from './clients/inventory.ts';
import type { Config } from './config.ts';
import {
  createCachedVerifier,
  createJwksVerifier,
  type Authenticate,
  type CachedVerifier,
  type Identity,
  type Principal,
  type TokenVerifier,
  type WorkspaceAccess,
} from './auth.ts';
import type { AuthChanges, Standing } from './contracts/inventory.ts';
import { PERMISSIONS, type Permissions } from './permissions.ts';

/** Where standings and the change feed come from: inventory over HTTP, or inventory's own database. */
export interface StandingSource {
  /** A user's standing; undefined when there is no such user. */
  standing(uid: number): Promise<Standing | undefined>;
  /** Changes after `after` (none given: only the latest seq). */
  changes(after?: number): Promise<AuthChanges>;
}

export interface AuthorityOptions {
  /** Checks signatures; its answers are cached here. */
  verifier: TokenVerifier;
  source: StandingSource;
  log: Logger;
  /** Milliseconds between reads of the change feed (config AUTH_POLL_INTERVAL). */
  pollMs?: number;
  /** Milliseconds without a successful read after which nothing cached is trusted (default 5 polls, >= 10 s). */
  staleMs?: number;
  /** Tokens kept verified. */
  maxTokens?: number;
  /** Users whose standing is kept. */
  maxUsers?: number;
  /** Called when inventory's signing key changed (a JWKS verifier reloads its keys). */
  onKeys?: () => Promise<void> | void;
}

/** Users whose standing changed, or 'all' (new keys, or changes missed). */
export type Changed = ReadonlySet<number> | 'all';

export interface Authority extends Authenticate {
  /** Calls fn after each batch of changes (the notification service re-checks open rooms). */
  watch(fn: (changed: Changed) => void): () => void;
  /** Reads the change feed now (also done every pollMs). */
  poll(): Promise<void>;
  readonly tokens: CachedVerifier;
  close(): void;
}

interface Held {
  standing: Standing;
  workspaces: Record<string, WorkspaceAccess>;
}

function accessOf(s: Standing): Record<string, WorkspaceAccess> {
  // No prototype: a workspace named "constructor" or "__proto__" is found only when it is one.
  const out = Object.create(null) as Record<string, WorkspaceAccess>;
  for (const w of s.workspaces) {
    const perms = {} as Permissions;
    for (const p of PERMISSIONS) perms[p] = w.owner || w[p];
    out[w.name] = { id: w.id, owner: w.owner, perms };
  }
  return out;
}

export function createAuthority(o: AuthorityOptions): Authority {
  const pollMs = o.pollMs ?? 1000;
  const staleMs = o.staleMs ?? Math.max(10_000, 5 * pollMs);
  const tokens = createCachedVerifier(o.verifier, o.maxTokens);
  const maxUsers = o.maxUsers ?? 10_000;
  const held = new Map<number, Held>();
  const reading = new Map<number, Promise<Held | undefined>>();
  const watchers = new Set<(c: Changed) => void>();
  let after: number | undefined;
  let lastRead = 0;
  /** Raised by every drop: a standing read before a drop is answered but not kept. */
  let generation = 0;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let polling: Promise<void> | undefined;

  const drop = (changed: Changed) => {
    generation++;
    if (changed === 'all') held.clear();
    else for (const uid of changed) held.delete(uid);
  };
  const fresh = () => after !== undefined && Date.now() - lastRead < staleMs;

  async function readFeed(): Promise<void> {
    let batch: AuthChanges;
    try {
      batch = await o.source.changes(after);
    } catch (e) {
      if (Date.now() - lastRead > staleMs && held.size) {
        o.log.warn({ err: e }, 'the authorization change feed is unreadable; cached standings dropped');
        drop('all');
      }
      throw e;
    }
    let changed: Changed;
    if (after === undefined || batch.oldest > after + 1) {
      // First read, or changes were pruned before we read them: nothing cached can be trusted.
      changed = 'all';
      if (after !== undefined) tokens.clear();
    } else {
      const uids = new Set<number>();
      let keys = false;
      let revoked = false;
      for (const c of batch.changes) {
        if (c.kind === 'keys') keys = true;
        else if (c.uid !== null) uids.add(c.uid);
        if (c.kind === 'revoke') revoked = true;
      }
      if (keys) {
        tokens.clear();
        await o.onKeys?.();
      } else if (revoked) tokens.clear();
      changed = keys ? 'all' : uids;
    }
    const last = batch.changes[batch.changes.length - 1];
    after = last ? last.seq : Math.max(after ?? 0, batch.latest);
    lastRead = Date.now();
    if (changed === 'all' || changed.size) {
      drop(changed);
      for (const w of watchers) w(changed);
    }
  }

  const poll = () =>
    (polling ??= readFeed().finally(() => {
      polling = undefined;
    }));

  const schedule = () => {
    if (closed) return;
    timer = setTimeout(() => {
      poll()
        .catch((e: unknown) => o.log.debug({ err: e }, 'change feed read failed'))
        .finally(schedule);
    }, pollMs);
    timer.unref();
  };
  // The feed is read from the first user request on: a process that never checks one never asks.
  let started = false;
  const start = () => {
    if (started || closed) return;
    started = true;
    schedule();
  };

  /** `reread`: skip what is held or being read (it predates something the caller knows happened). */
  async function standingOf(uid: number, reread = false): Promise<Held | undefined> {
    start();
    if (!fresh()) {
      // The first read of the feed, or a long silence: read it before trusting anything.
      try {
        await poll();
      } catch {
        throw unavailable('authorization data unavailable (inventory unreachable); try again');
      }
    }
    if (reread) held.delete(uid);
    const h = held.get(uid);
    if (h) return h;
    let p = reread ? undefined : reading.get(uid);
    if (!p) {
      const gen = generation;
      p = o.source
        .standing(uid)
        .then((standing) => {
          if (!standing) return undefined;
          const got = { standing, workspaces: accessOf(standing) };
          if (gen === generation) {
            if (held.size >= maxUsers) held.delete(held.keys().next().value!);
            held.set(uid, got);
          }
          return got;
        })
        .finally(() => reading.delete(uid));
      reading.set(uid, p);
    }
    return p;
  }

  /** The principal of a token whose user's standing is `h` (kept per identity while `h` stays the same). */
  const made = new WeakMap<Identity, { h: Held; p: Principal }>();
  function principalOf(id: Identity, h: Held | undefined): Principal {
    if (!h || h.standing.username !== id.username) throw unauthenticated('no such user');
    if (h.standing.disabled) throw unauthenticated('account disabled');
    if (h.standing.version !== id.version) throw unauthenticated('token revoked: get a fresh one');
    const m = made.get(id);
    if (m?.h === h) return m.p;
    const p = { ...id, isAdmin: h.standing.admin, workspaces: h.workspaces };
    made.set(id, { h, p });
    return p;
  }
  const noWorkspaces = Object.create(null) as Record<string, WorkspaceAccess>;

  async function check(token: string): Promise<Principal> {
    const id = await tokens.verify(token);
    if (id.isService) return { ...id, workspaces: noWorkspaces };
    if (id.uid === undefined || id.version === undefined)
      throw unauthenticated('token of an older kind: log in again');
    let h = await standingOf(id.uid);
    // A token signed at a later version than the standing held: its revocation (a password change made through
    // this very process, say) is not in the feed read yet. The token is signed, so the held standing is stale.
    if (h && id.version > h.standing.version) h = await standingOf(id.uid, true);
    return principalOf(id, h);
  }

  return {
    tokens,
    verify(token): Promise<Principal> {
      // The common case without a wait: a token verified before, of a user whose standing is held.
      const id = tokens.peek(token);
      if (id?.uid !== undefined && !id.isService && fresh()) {
        const h = held.get(id.uid);
        if (h && id.version === h.standing.version) {
          try {
            return Promise.resolve(principalOf(id, h));
          } catch (e) {
            return Promise.reject(e instanceof Error ? e : new Error(String(e)));
          }
        }
      }
      return check(token);
    },
    watch(fn) {
      start();
      watchers.add(fn);
      return () => void watchers.delete(fn);
    },
    poll,
    close() {
      closed = true;
      clearTimeout(timer);
    },
  };
}

/**
 * The authority of a service other than inventory: tokens checked against inventory's JWKS (or `verifier`),
 * standings and the change feed read from inventory with the service's own token.
 */
export function inventoryAuthority(o: {
  config: Pick<Config, 'INVENTORY_URL' | 'HTTP_TIMEOUT' | 'HTTP_RETRIES' | 'AUTH_POLL_INTERVAL'>;
  log: Logger;
  token: () => Promise<string>;
  verifier?: TokenVerifier;
}): Authority {
  const jwks = o.verifier ? undefined : createJwksVerifier(o.config.INVENTORY_URL);
  const inventory = createInventoryClient({
    url: o.config.INVENTORY_URL,
    token: o.token,
    timeout: Math.min(o.config.HTTP_TIMEOUT, 5),
    retries: 1,
  });
  return createAuthority({
    verifier: o.verifier ?? jwks!,
    source: { standing: (uid) => inventory.auth.standing(uid), changes: (a) => inventory.auth.changes(a) },
    log: o.log,
    pollMs: o.config.AUTH_POLL_INTERVAL * 1000,
    onKeys: jwks ? () => jwks.reload().catch(() => undefined) : undefined,
  });
}
