// Signup, login (session cookie for browsers, token in the JSON answer for scripts), logout, get_token,
// service tokens and the JWKS that every other service verifies tokens with. HTTP only: cookies, headers,
// status codes; the rest is services/identity.ts.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type {} from '@fastify/cookie';
import { ErrorBody } from '../../lib/contracts/common.ts';
import {
  AccountState,
  AccountUpdate,
  Jwks,
  LoggedOut,
  NameParams,
  PasswordChange,
  Login,
  ServiceTokenRequest,
  SignedUp,
  Signup,
  TokenAnswer,
} from '../../lib/contracts/inventory.ts';
import { tokenOf } from '../../lib/auth.ts';
import type { App } from '../../lib/http.ts';
import type { Auth } from '../service.ts';
import type { SigningKey } from '../keys.ts';
import type { InventoryServices } from '../services/index.ts';
import { Throttled } from '../services/identity.ts';

export const SESSION_COOKIE = 'kloudak_session';
const tags = ['identity'];
const errors = { '4xx': ErrorBody, '5xx': ErrorBody };

/** A throttled caller learns when to try again (Retry-After). */
async function throttled<T>(reply: FastifyReply, p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof Throttled) void reply.header('retry-after', String(e.retryAfter));
    throw e;
  }
}

export function identityRoutes(
  app: App,
  s: Pick<InventoryServices, 'identity'>,
  o: { sessionTtl: number; signingKey: SigningKey; who: Auth },
): void {
  const setSession = (reply: FastifyReply, session: string) =>
    void reply.setCookie(SESSION_COOKIE, session, {
      path: '/',
      httpOnly: true,
      sameSite: 'lax',
      maxAge: o.sessionTtl,
    });
  app.post(
    '/signup/',
    { schema: { body: Signup, response: { 201: SignedUp, ...errors }, tags } },
    async (req, reply) => reply.status(201).send(await throttled(reply, s.identity.signup(req.body, req.ip))),
  );

  app.post(
    '/login/',
    { schema: { body: Login, response: { 200: TokenAnswer, ...errors }, tags } },
    async (req, reply) => {
      const { token, session } = await throttled(reply, s.identity.login(req.body, req.ip));
      setSession(reply, session);
      return { token };
    },
  );

  // The cookie's session ends and every token of its user is revoked (the book's GET, for browsers; with no
  // cookie it changes nothing). POST also takes a token, for scripts without a session.
  const logout = async (req: FastifyRequest, reply: FastifyReply, byToken: boolean) => {
    const caller = byToken && tokenOf(req.headers) ? await o.who(req).catch(() => undefined) : undefined;
    await s.identity.logout(req.cookies[SESSION_COOKIE], caller);
    void reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return { status: 'logged out' as const };
  };
  const loggedOut = { schema: { response: { 200: LoggedOut, ...errors }, tags } };
  app.get('/logout/', loggedOut, async (req, reply) => logout(req, reply, false));
  app.post('/logout/', loggedOut, async (req, reply) => logout(req, reply, true));

  // The caller's own password: the cookie's session is replaced (every other one ends), a fresh token answers.
  app.put(
    '/password/',
    { schema: { body: PasswordChange, response: { 200: TokenAnswer, ...errors }, tags } },
    async (req, reply) => {
      const { token, session } = await throttled(
        reply,
        s.identity.changePassword(await o.who(req), req.body, req.ip),
      );
      if (req.cookies[SESSION_COOKIE]) setSession(reply, session);
      return { token };
    },
  );
  // Admins: disable (tokens stop working) or enable an account, or reset its password.
  app.put(
    '/accounts/:name/',
    {
      schema: {
        params: NameParams,
        body: AccountUpdate,
        response: { 200: AccountState, ...errors },
        tags,
      },
    },
    async (req) => s.identity.updateAccount(await o.who(req), req.params.name, req.body),
  );

  app.get('/get_token/', { schema: { response: { 200: TokenAnswer, ...errors }, tags } }, async (req) => ({
    token: await s.identity.tokenOfSession(req.cookies[SESSION_COOKIE]),
  }));

  app.post(
    '/service_token/',
    { schema: { body: ServiceTokenRequest, response: { 200: TokenAnswer, ...errors }, tags } },
    async (req, reply) => ({ token: await throttled(reply, s.identity.serviceToken(req.body, req.ip)) }),
  );

  app.get(
    '/.well-known/jwks.json',
    { schema: { response: { 200: Jwks }, tags } },
    async () => o.signingKey.jwks,
  );
}
