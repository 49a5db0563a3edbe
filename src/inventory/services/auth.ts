// What a user may do now, for the services that check requests (src/lib/authority.ts): a user's standing,
// the feed of changes to standings, and the caller's own account.
import { requireService, type Principal } from '../../lib/auth.ts';
import type { Account, AuthChanges, Standing } from '../../lib/contracts/inventory.ts';
import { inputError, notAllowed, notFound } from '../../lib/errors.ts';
import type { Store } from '../repositories/index.ts';

/** Changes answered per read of the feed. */
const PAGE = 1000;

export function authService(store: Store) {
  async function standing(uid: number): Promise<Standing | undefined> {
    const u = await store.users.find(uid);
    if (!u) return undefined;
    return {
      uid: u.id,
      username: u.username,
      version: u.token_version,
      disabled: u.disabled,
      admin: u.is_admin,
      workspaces: await store.users.memberships(u.id),
    };
  }
  async function changes(after?: number): Promise<AuthChanges> {
    const { oldest, latest } = await store.authChanges.bounds();
    return { oldest, latest, changes: after === undefined ? [] : await store.authChanges.since(after, PAGE) };
  }
  return {
    /** The source inventory's own authority reads (its database, no HTTP). */
    source: { standing, changes },

    async standingFor(p: Principal, uid: number): Promise<Standing> {
      requireService(p, 'standings');
      const s = await standing(uid);
      if (!s) throw notFound('uid', `no user ${uid}`);
      return s;
    },
    async changesFor(p: Principal, after?: number): Promise<AuthChanges> {
      requireService(p, 'standings');
      // The feed's sequence is a PostgreSQL integer: a larger one is a bad request, not a query error.
      if (after !== undefined && after > 2_147_483_647)
        throw inputError('after', 'after is past any sequence');
      return changes(after);
    },
    async account(p: Principal): Promise<Account> {
      if (p.uid === undefined) throw notAllowed('only user accounts have an account');
      const s = await standing(p.uid);
      const u = await store.users.find(p.uid);
      if (!s || !u) throw notFound('username', `no user ${p.username}`);
      return { username: s.username, email: u.email, admin: s.admin, workspaces: s.workspaces };
    },
  };
}
export type AuthService = ReturnType<typeof authService>;
