// Signup, login (session cookie for browsers, token in the JSON answer for scripts), logout, get_token,
// service tokens and the JWKS that every other service verifies tokens with.
import { createHash, randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type {} from '@fastify/cookie';
import { Type } from 'typebox';
import { ADMIN_CLAIM, PERMISSIONS, RESERVED_CLAIM_NAMES, SERVICE_CLAIM } from '../../lib/auth.ts';
import { conflict, inputError, tooMany, unauthenticated } from '../../lib/errors.ts';
import { isUniqueViolation } from '../../lib/db.ts';
import type { App } from '../../lib/http.ts';
import { sameSecret } from '../../lib/secrets.ts';
import { SERVICES } from '../../lib/servicetoken.ts';
import type { InventoryContext } from '../context.ts';
import { DUMMY_HASH, hashPassword, verifyPassword } from '../passwords.ts';
import { Login, ServiceTokenRequest, Signup } from '../schemas.ts';

export const SESSION_COOKIE = 'kloudak_session';
const TokenAnswer = Type.Object({ token: Type.String() });
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** The book's claims: username, email, one permissions object per workspace (chapter 3). */
export async function userToken(ctx: InventoryContext, userId: number): Promise<string> {
  const user = await ctx.db
    .selectFrom('users')
    .selectAll()
    .where('id', '=', userId)
    .executeTakeFirstOrThrow();
  const rows = await ctx.db
    .selectFrom('members')
    .innerJoin('workspaces', 'workspaces.id', 'members.workspace_id')
    .select(['workspaces.name', ...PERMISSIONS.map((p) => `members.${p}` as const)])
    .where('members.user_id', '=', userId)
    .execute();
  const claims: Record<string, unknown> = { username: user.username, email: user.email };
  for (const r of rows) claims[r.name] = Object.fromEntries(PERMISSIONS.map((p) => [p, r[p]]));
  if (user.is_admin) claims[ADMIN_CLAIM] = true;
  return ctx.signer.sign(claims, ctx.config.TOKEN_TTL);
}

async function sessionUser(ctx: InventoryContext, req: FastifyRequest): Promise<number> {
  const sid = req.cookies[SESSION_COOKIE];
  if (!sid) throw unauthenticated('not logged in');
  const s = await ctx.db
    .selectFrom('sessions')
    .select(['user_id', 'expires_at'])
    .where('id_hash', '=', sha256(sid))
    .executeTakeFirst();
  if (!s || s.expires_at.getTime() < Date.now()) throw unauthenticated('session expired; log in again');
  return s.user_id;
}

export function identityRoutes(app: App, ctx: InventoryContext): void {
  app.post('/signup/', { schema: { body: Signup, tags: ['identity'] } }, async (req, reply) => {
    const { username, password, email } = req.body;
    if (username.startsWith('kloudak-') || RESERVED_CLAIM_NAMES.has(username))
      throw inputError('username', `username ${username} is reserved`);
    const password_hash = await hashPassword(password);
    try {
      await ctx.db.insertInto('users').values({ username, email, password_hash, is_admin: false }).execute();
    } catch (e) {
      if (isUniqueViolation(e)) throw conflict('username', `username ${username} is taken`);
      throw e;
    }
    return reply.status(201).send({ username, email });
  });

  app.post(
    '/login/',
    { schema: { body: Login, response: { 200: TokenAnswer }, tags: ['identity'] } },
    async (req, reply) => {
      const { username, password } = req.body;
      const userKey = `u:${username}`;
      const addrKey = `a:${req.ip}`;
      const wait = Math.max(
        await ctx.userThrottle.retryAfter(userKey),
        await ctx.addressThrottle.retryAfter(addrKey),
      );
      if (wait > 0) {
        void reply.header('retry-after', String(wait));
        throw tooMany(`too many failed logins; try again in ${wait} s`);
      }
      const user = await ctx.db
        .selectFrom('users')
        .select(['id', 'password_hash'])
        .where('username', '=', username)
        .executeTakeFirst();
      const ok = await verifyPassword(password, user?.password_hash ?? DUMMY_HASH);
      if (!user || !ok) {
        await ctx.userThrottle.fail(userKey);
        await ctx.addressThrottle.fail(addrKey);
        throw unauthenticated('wrong username or password');
      }
      await ctx.userThrottle.reset(userKey);
      const sid = randomBytes(32).toString('base64url');
      const expires_at = new Date(Date.now() + ctx.config.SESSION_TTL * 1000);
      await ctx.db.deleteFrom('sessions').where('expires_at', '<', new Date()).execute();
      await ctx.db
        .insertInto('sessions')
        .values({ id_hash: sha256(sid), user_id: user.id, expires_at })
        .execute();
      setSessionCookie(reply, sid, ctx.config.SESSION_TTL);
      return { token: await userToken(ctx, user.id) };
    },
  );

  app.get('/logout/', { schema: { tags: ['identity'] } }, async (req, reply) => {
    const sid = req.cookies[SESSION_COOKIE];
    if (sid) await ctx.db.deleteFrom('sessions').where('id_hash', '=', sha256(sid)).execute();
    void reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return { status: 'logged out' };
  });

  app.get('/get_token/', { schema: { response: { 200: TokenAnswer }, tags: ['identity'] } }, async (req) => {
    return { token: await userToken(ctx, await sessionUser(ctx, req)) };
  });

  app.post(
    '/service_token/',
    { schema: { body: ServiceTokenRequest, response: { 200: TokenAnswer }, tags: ['identity'] } },
    async (req, reply) => {
      const { service, secret } = req.body;
      const addrKey = `s:${req.ip}`;
      const wait = await ctx.addressThrottle.retryAfter(addrKey);
      if (wait > 0) {
        void reply.header('retry-after', String(wait));
        throw tooMany(`too many failed attempts; try again in ${wait} s`);
      }
      if (!(SERVICES as readonly string[]).includes(service))
        throw inputError('service', `unknown service ${service}`);
      if (!sameSecret(secret, ctx.serviceSecret)) {
        await ctx.addressThrottle.fail(addrKey);
        throw unauthenticated('wrong service secret');
      }
      return {
        token: await ctx.signer.sign(
          { username: `kloudak-${service}`, [SERVICE_CLAIM]: true },
          ctx.config.TOKEN_TTL,
        ),
      };
    },
  );

  app.get('/.well-known/jwks.json', { schema: { tags: ['identity'] } }, async () => ctx.signingKey.jwks);
}

function setSessionCookie(reply: FastifyReply, sid: string, ttl: number): void {
  void reply.setCookie(SESSION_COOKIE, sid, { path: '/', httpOnly: true, sameSite: 'lax', maxAge: ttl });
}
