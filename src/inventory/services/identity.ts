// Signup, login (a session for browsers, a token for scripts), logout, tokens from a session, service tokens,
// and the first admin. The routes handle cookies and headers; everything else is here.
import { createHash, randomBytes } from 'node:crypto';
import {
  ADMIN_CLAIM,
  RESERVED_CLAIM_NAMES,
  SERVICE_CLAIM,
  SERVICE_NAME_CLAIM,
  UID_CLAIM,
  VERSION_CLAIM,
  type Principal,
  type TokenSigner,
} from '../../lib/auth.ts';
import type { Config } from '../../lib/config.ts';
import type { AccountState, AccountUpdate, PasswordChange, SignedUp } from '../../lib/contracts/inventory.ts';
import { isUniqueViolation } from '../../lib/db.ts';
import { AppError, conflict, inputError, notAllowed, notFound, unauthenticated } from '../../lib/errors.ts';
import { sameSecret, serviceKey } from '../../lib/secrets.ts';
import { SERVICES } from '../../lib/servicetoken.ts';
import { DUMMY_HASH, hashPassword, verifyPassword } from '../passwords.ts';
import type { Throttle } from '../ratelimit.ts';
import type { Repositories } from '../repositories/index.ts';

/** Refused for too many failures: try again after `retryAfter` seconds (the Retry-After header). */
export class Throttled extends AppError {
  constructor(
    readonly retryAfter: number,
    message: string,
  ) {
    super('too_many', message);
  }
}

export interface IdentityDeps {
  repos: Pick<Repositories, 'users' | 'sessions' | 'authChanges'>;
  signer: TokenSigner;
  config: Pick<
    Config,
    'TOKEN_TTL' | 'SESSION_TTL' | 'ADMIN_USER' | 'ADMIN_PASSWORD' | 'MAX_MEMBERSHIPS' | 'MAX_INVITATIONS'
  >;
  serviceSecret: string;
  userThrottle: Throttle;
  addressThrottle: Throttle;
  /** Signups per client address (each hashes a password: 16 MiB of scrypt). */
  signupThrottle: Throttle;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export function identityService(d: IdentityDeps) {
  const { users, sessions, authChanges } = d.repos;

  /**
   * Who the user is: name, email, id and token version (issue 14.5). Unlike the book's chapter 3, no
   * workspace claims: what a user may do is read from inventory's records by every service
   * (src/lib/authority.ts), so the token's size does not grow with memberships and nothing in it goes stale.
   */
  async function userToken(userId: number): Promise<string> {
    const user = await users.byId(userId);
    if (user.disabled) throw unauthenticated('account disabled');
    const claims: Record<string, unknown> = {
      username: user.username,
      email: user.email,
      [UID_CLAIM]: user.id,
      [VERSION_CLAIM]: user.token_version,
    };
    if (user.is_admin) claims[ADMIN_CLAIM] = true;
    return d.signer.sign(claims, d.config.TOKEN_TTL);
  }

  /** A new browser session of the user: the secret for its cookie (the database keeps its SHA-256). */
  async function newSession(userId: number): Promise<string> {
    const session = randomBytes(32).toString('base64url');
    await sessions.deleteExpired(new Date());
    await sessions.insert({
      id_hash: sha256(session),
      user_id: userId,
      expires_at: new Date(Date.now() + d.config.SESSION_TTL * 1000),
    });
    return session;
  }

  /** Every token of the user stops working on every service within seconds. */
  async function revoke(userId: number): Promise<void> {
    await users.bumpVersion(userId);
    await authChanges.append('revoke', [userId]);
  }

  return {
    /** Makes an account; every call (made or not) counts towards the client address's signups. */
    async signup(
      b: { username: string; password: string; email: string },
      clientAddress: string,
    ): Promise<SignedUp> {
      const { username, password, email } = b;
      if (username.startsWith('kloudak-') || RESERVED_CLAIM_NAMES.has(username))
        throw inputError('username', `username ${username} is reserved`);
      const wait = await d.signupThrottle.take(`n:${clientAddress}`);
      if (wait > 0) throw new Throttled(wait, `too many signups from this address; try again in ${wait} s`);
      const password_hash = await hashPassword(password);
      try {
        await users.insert({ username, email, password_hash, is_admin: false });
      } catch (e) {
        if (isUniqueViolation(e)) throw conflict('username', `username ${username} is taken`);
        throw e;
      }
      return { username, email };
    },

    /**
     * Checks the password; answers a token and a new session. Throttled per (user, client address) and per
     * client address, each attempt counted before the password is checked (ratelimit.ts): a burst gets no
     * more guesses than the count allows, and the owner logging in from elsewhere is never locked out.
     */
    async login(b: { username: string; password: string }, clientAddress: string) {
      const userKey = `u:${b.username}@${clientAddress}`;
      const addrKey = `a:${clientAddress}`;
      const refused = (wait: number) => new Throttled(wait, `too many failed logins; try again in ${wait} s`);
      const addrWait = await d.addressThrottle.take(addrKey);
      if (addrWait > 0) throw refused(addrWait);
      const userWait = await d.userThrottle.take(userKey);
      if (userWait > 0) {
        await d.addressThrottle.refund(addrKey);
        throw refused(userWait);
      }
      const user = await users.credentials(b.username);
      const ok = await verifyPassword(b.password, user?.password_hash ?? DUMMY_HASH);
      // A failure stays counted on both keys.
      if (!user || !ok || user.disabled) throw unauthenticated('wrong username or password');
      await d.userThrottle.reset(userKey);
      await d.addressThrottle.refund(addrKey);
      return { token: await userToken(user.id), session: await newSession(user.id) };
    },

    /**
     * Ends the session and revokes every token of its user (or of the token's user, for scripts without a
     * session): the user's other sessions get fresh tokens from /get_token/.
     */
    async logout(session: string | undefined, caller?: Principal): Promise<void> {
      let userId = caller?.uid;
      if (session) {
        const s = await sessions.byHash(sha256(session));
        await sessions.delete(sha256(session));
        userId ??= s?.user_id;
      }
      if (userId !== undefined) await revoke(userId);
    },

    /**
     * The caller changes its own password: the current one is checked (throttled like a login), then every
     * token and session of the user ends; answers a fresh token and session.
     */
    async changePassword(p: Principal, b: PasswordChange, clientAddress: string) {
      if (p.isService || p.uid === undefined) throw notAllowed('services have no password');
      const key = `u:${p.username}@${clientAddress}`;
      const wait = await d.userThrottle.take(key);
      if (wait > 0) throw new Throttled(wait, `too many wrong passwords; try again in ${wait} s`);
      const user = await users.byId(p.uid);
      if (!(await verifyPassword(b.current, user.password_hash)))
        throw notAllowed('the current password is wrong', 'current');
      await d.userThrottle.reset(key);
      await users.setPassword(user.id, await hashPassword(b.password));
      await sessions.deleteOfUser(user.id);
      await revoke(user.id);
      return { token: await userToken(user.id), session: await newSession(user.id) };
    },

    /** An admin disables or enables an account, or sets its password; every token and session of it ends. */
    async updateAccount(p: Principal, name: string, b: AccountUpdate): Promise<AccountState> {
      if (!p.isAdmin) throw notAllowed('only admins manage accounts');
      const id = (await users.idOf(name))?.id;
      if (id === undefined) throw notFound('name', `no user ${name}`);
      if (b.disabled === true && id === p.uid)
        throw inputError('disabled', 'admins do not disable themselves');
      if (b.password !== undefined) await users.setPassword(id, await hashPassword(b.password));
      if (b.disabled !== undefined) await users.setDisabled(id, b.disabled);
      await sessions.deleteOfUser(id);
      await revoke(id);
      const u = await users.byId(id);
      return { name: u.username, email: u.email, is_admin: u.is_admin, disabled: u.disabled };
    },

    /** A fresh token for a browser's session. */
    async tokenOfSession(session: string | undefined): Promise<string> {
      if (!session) throw unauthenticated('not logged in');
      const s = await sessions.byHash(sha256(session));
      if (!s || s.expires_at.getTime() < Date.now()) throw unauthenticated('session expired; log in again');
      return userToken(s.user_id);
    },

    /** A service's superuser token, for the shared secret (throttled per client address). */
    async serviceToken(b: { service: string; secret: string }, clientAddress: string): Promise<string> {
      const addrKey = `s:${clientAddress}`;
      const wait = await d.addressThrottle.take(addrKey);
      if (wait > 0) throw new Throttled(wait, `too many failed attempts; try again in ${wait} s`);
      if (!(SERVICES as readonly string[]).includes(b.service)) {
        await d.addressThrottle.refund(addrKey);
        throw inputError('service', `unknown service ${b.service}`);
      }
      // Each service its own key: the key of one service never gets another's token (issue 14.9).
      if (!sameSecret(b.secret, serviceKey(d.serviceSecret, b.service)))
        throw unauthenticated('wrong service secret');
      await d.addressThrottle.reset(addrKey);
      return d.signer.sign(
        { username: `kloudak-${b.service}`, [SERVICE_CLAIM]: true, [SERVICE_NAME_CLAIM]: b.service },
        d.config.TOKEN_TTL,
      );
    },

    /** Makes the configured admin once; answers the password when it was generated (to be shown once). */
    async ensureAdmin(): Promise<{ username: string; password?: string }> {
      const username = d.config.ADMIN_USER;
      if (await users.idOf(username)) return { username };
      const password = d.config.ADMIN_PASSWORD ?? randomBytes(12).toString('base64url');
      const made = await users.insertOnce({
        username,
        email: `${username}@localhost`,
        password_hash: await hashPassword(password),
        is_admin: true,
      });
      return made && !d.config.ADMIN_PASSWORD ? { username, password } : { username };
    },
  };
}
export type IdentityService = ReturnType<typeof identityService>;
