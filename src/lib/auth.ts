// Tokens (DESIGN "Tokens and permissions", "Tenant safety"): inventory signs Ed25519 JWTs; every service
// verifies them with inventory's public key from its JWKS endpoint. A token says who the caller is (user id,
// name, the user's token version), never what it may do: what a user may do in a workspace is read from
// inventory's current records (src/lib/authority.ts), so a removed member, a changed flag, a logout or a
// disabled account stops working within seconds, not at the token's expiry.
import { hash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import {
  createRemoteJWKSet,
  jwtVerify,
  SignJWT,
  type JWTPayload,
  type JWTVerifyGetKey,
  type KeyObject,
  type CryptoKey,
} from 'jose';
import { notAllowed, unauthenticated } from './errors.ts';
import { requireServiceRight, serviceHolds, type ServiceRight } from './rights.ts';
import { ADMIN_CLAIM, SERVICE_CLAIM, type Permission, type Permissions } from './permissions.ts';
export {
  ADMIN_CLAIM,
  ALL_PERMISSIONS,
  NO_PERMISSIONS,
  PERMISSIONS,
  RESERVED_CLAIM_NAMES,
  SERVICE_CLAIM,
  type Permission,
  type Permissions,
} from './permissions.ts';

export const ISSUER = 'kloudak-inventory';
/** Claims of a user token beyond the registered ones: the user's id and its token version. */
export const UID_CLAIM = 'uid';
export const VERSION_CLAIM = 'ver';
/** A service token names its service here (rights are per service: src/lib/rights.ts). */
export const SERVICE_NAME_CLAIM = 'service';

/** What a verified token proves. */
export interface Identity {
  username: string;
  /** A user's id (user tokens). */
  uid?: number;
  /** The user's token version when the token was signed: a revocation raises it (logout, disable...). */
  version?: number;
  email?: string;
  isService: boolean;
  /** The service a service token was given to. */
  service?: string;
  /** The admin claim as signed (the authority reads the current one). */
  isAdmin: boolean;
  /** Seconds since the epoch. */
  exp?: number;
}

/** A member's standing in one workspace, as inventory holds it now. */
export interface WorkspaceAccess {
  /** Stays across renames; a workspace re-made under a name has another. */
  id: number;
  owner: boolean;
  perms: Permissions;
}

/** The caller of a request: who (the token), and what it may do now (inventory's records). */
export interface Principal extends Identity {
  /** Workspace name -> the caller's standing in it (no prototype: any name is safe to look up). */
  workspaces: Record<string, WorkspaceAccess>;
}

export interface TokenSigner {
  sign(claims: Record<string, unknown>, ttlSeconds: number): Promise<string>;
}

export function createTokenSigner(privateKey: KeyObject | CryptoKey, kid: string): TokenSigner {
  return {
    sign: (claims, ttl) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'JWT' })
        .setIssuer(ISSUER)
        .setSubject(String(claims.username))
        .setIssuedAt()
        .setExpirationTime(`${ttl}s`)
        .sign(privateKey),
  };
}

export interface TokenVerifier {
  verify(token: string): Promise<Identity>;
}

/** A verifier whose answers are kept: emptied when the keys change or a token is revoked. */
export interface CachedVerifier extends TokenVerifier {
  /** What was verified of this token before, if it is kept and unexpired (no verification: a lookup). */
  peek(token: string): Identity | undefined;
  /** Forgets every verified token (key rotation, revocation). */
  clear(): void;
  readonly size: number;
}

/** A verification key, or a function choosing one by the token's header (a JWKS). */
type KeyInput = KeyObject | CryptoKey | Uint8Array | JWTVerifyGetKey;

/** Verifies with a key or key set; any failure (alg none, wrong key, expired, malformed) is a 401. */
export function createTokenVerifier(key: KeyInput): TokenVerifier {
  return {
    async verify(token) {
      let payload: JWTPayload;
      try {
        const options = { issuer: ISSUER, algorithms: ['EdDSA'] };
        // jwtVerify takes a key or a key-choosing function, by two overloads.
        ({ payload } =
          typeof key === 'function'
            ? await jwtVerify(token, key, options)
            : await jwtVerify(token, key, options));
      } catch {
        throw unauthenticated('invalid or expired token');
      }
      return identityOf(payload);
    },
  };
}

/** Inventory's JWKS, fetched and cached (refetched on an unknown kid, at most every 30 s, or on reload()). */
export function createJwksVerifier(inventoryUrl: string): TokenVerifier & { reload(): Promise<void> } {
  const jwks = createRemoteJWKSet(new URL('/.well-known/jwks.json', inventoryUrl), {
    timeoutDuration: 5000,
    cooldownDuration: 30_000,
    cacheMaxAge: 10 * 60_000,
  });
  return { ...createTokenVerifier(jwks), reload: () => jwks.reload() };
}

/**
 * Keeps what `inner` verified, keyed by the token's SHA-256, until the token expires: a request with a token
 * seen before costs a hash and a lookup instead of an EdDSA verification (issue 16.4). At most `max` tokens;
 * the oldest go first. Failures are never kept.
 */
export function createCachedVerifier(inner: TokenVerifier, max = 10_000): CachedVerifier {
  const held = new Map<string, Identity>();
  const keyOf = (token: string) => hash('sha256', token, 'base64url');
  const live = (id: Identity | undefined) =>
    id && (id.exp === undefined || id.exp * 1000 > Date.now()) ? id : undefined;
  return {
    peek: (token) => live(held.get(keyOf(token))),
    async verify(token) {
      const key = keyOf(token);
      const hit = live(held.get(key));
      if (hit) return hit;
      held.delete(key);
      const identity = await inner.verify(token);
      if (held.size >= max) held.delete(held.keys().next().value!);
      held.set(key, identity);
      return identity;
    },
    clear: () => held.clear(),
    get size() {
      return held.size;
    },
  };
}

export function identityOf(payload: JWTPayload): Identity {
  if (typeof payload.username !== 'string') throw unauthenticated('token has no username');
  const int = (v: unknown) => (typeof v === 'number' && Number.isSafeInteger(v) ? v : undefined);
  const isService = payload[SERVICE_CLAIM] === true;
  const service = payload[SERVICE_NAME_CLAIM];
  return {
    username: payload.username,
    uid: int(payload[UID_CLAIM]),
    version: int(payload[VERSION_CLAIM]),
    email: typeof payload.email === 'string' ? payload.email : undefined,
    isService,
    service: isService && typeof service === 'string' ? service : undefined,
    isAdmin: payload[ADMIN_CLAIM] === true,
    exp: payload.exp,
  };
}

/** The token of a request: header `token` (the book's), or `Authorization: Bearer`. */
export function tokenOf(headers: IncomingHttpHeaders): string | undefined {
  const t = headers.token;
  if (typeof t === 'string' && t) return t;
  const a = headers.authorization;
  if (typeof a === 'string' && /^bearer /i.test(a)) return a.slice(7).trim() || undefined;
  return undefined;
}

/** Whoever checks a request's token and answers the caller with its current standing. */
export interface Authenticate {
  verify(token: string): Promise<Principal>;
}

export async function authenticate(auth: Authenticate, headers: IncomingHttpHeaders): Promise<Principal> {
  const token = tokenOf(headers);
  if (!token) throw unauthenticated('missing token');
  return auth.verify(token);
}

/**
 * Throws 403 unless the principal holds `permission` in `workspace`; answers its standing there (undefined
 * for services, which hold every permission everywhere).
 */
export function requirePermission(
  p: Principal,
  workspace: string,
  permission: Permission,
): WorkspaceAccess | undefined {
  if (p.isService) {
    requireServiceRight(p, 'tasks');
    return undefined;
  }
  const access = p.workspaces[workspace];
  if (!access) throw notAllowed(`not a member of workspace ${workspace}`, 'owner');
  if (!access.perms[permission])
    throw notAllowed(`missing permission ${permission} in workspace ${workspace}`);
  return access;
}

/** A service holding `right`. */
export function requireService(p: Principal, right: ServiceRight): void {
  if (!p.isService) throw notAllowed('only service tokens may do this');
  requireServiceRight(p, right);
}

/** An admin, or a service holding `right` (none when not given). */
export function requireAdmin(p: Principal, right?: ServiceRight): void {
  if (p.isAdmin) return;
  if (p.isService) return requireServiceRight(p, right ?? 'catalogue.write');
  throw notAllowed('only admins may do this');
}

export { serviceHolds, type ServiceRight };
