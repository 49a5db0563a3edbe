// Tokens and permissions (DESIGN "Tokens and permissions"): inventory signs Ed25519 JWTs; every service
// verifies them with inventory's public key from its JWKS endpoint, fetched once and cached.
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
import {
  ADMIN_CLAIM,
  SERVICE_CLAIM,
  workspaceClaims,
  type Permission,
  type Permissions,
} from './permissions.ts';
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

export interface Principal {
  username: string;
  email?: string;
  isService: boolean;
  isAdmin: boolean;
  /** Workspace name -> permissions, as signed into the token. */
  workspaces: Record<string, Permissions>;
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
  verify(token: string): Promise<Principal>;
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
      return principalOf(payload);
    },
  };
}

/** A verifier that fetches inventory's JWKS (cached; refetched on an unknown kid, at most every 30 s). */
export function createJwksVerifier(inventoryUrl: string): TokenVerifier {
  const jwks = createRemoteJWKSet(new URL('/.well-known/jwks.json', inventoryUrl), {
    timeoutDuration: 5000,
    cooldownDuration: 30_000,
    cacheMaxAge: 10 * 60_000,
  });
  return createTokenVerifier(jwks);
}

export function principalOf(payload: JWTPayload): Principal {
  if (typeof payload.username !== 'string') throw unauthenticated('token has no username');
  const workspaces = workspaceClaims(payload);
  return {
    username: payload.username,
    email: typeof payload.email === 'string' ? payload.email : undefined,
    isService: payload[SERVICE_CLAIM] === true,
    isAdmin: payload[ADMIN_CLAIM] === true,
    workspaces,
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

export async function authenticate(
  verifier: TokenVerifier,
  headers: IncomingHttpHeaders,
): Promise<Principal> {
  const token = tokenOf(headers);
  if (!token) throw unauthenticated('missing token');
  return verifier.verify(token);
}

/** Throws 403 unless the principal holds `permission` in `workspace` (service tokens hold every one). */
export function requirePermission(p: Principal, workspace: string, permission: Permission): void {
  if (p.isService) return;
  const perms = p.workspaces[workspace];
  if (!perms) throw notAllowed(`not a member of workspace ${workspace}`, 'owner');
  if (!perms[permission]) throw notAllowed(`missing permission ${permission} in workspace ${workspace}`);
}

export function requireService(p: Principal): void {
  if (!p.isService) throw notAllowed('only service tokens may do this');
}

export function requireAdmin(p: Principal): void {
  if (!p.isAdmin && !p.isService) throw notAllowed('only admins may do this');
}
