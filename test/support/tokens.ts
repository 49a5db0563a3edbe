// Forged and broken tokens for authorization tests: expired, signed by another key, wrong issuer, alg none,
// tampered payload. Forgeries that need the real key read the inventory's own key file.
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { calculateJwkThumbprint, decodeJwt, exportJWK, SignJWT } from 'jose';
import { createTokenSigner, ISSUER } from '../../src/lib/auth.ts';
import type { Config } from '../../src/lib/config.ts';

const b64 = (x: unknown) => Buffer.from(JSON.stringify(x)).toString('base64url');

/** The inventory's own signing key (the PEM in its data dir, or KLOUDAK_JWT_KEY_FILE). */
export function inventoryKey(config: Config): KeyObject {
  return createPrivateKey(
    readFileSync(config.JWT_KEY_FILE ?? join(config.DATA_DIR, 'inventory', 'jwt-ed25519.pem'), 'utf8'),
  );
}

export async function kidOf(key: KeyObject): Promise<string> {
  return calculateJwkThumbprint(await exportJWK(createPublicKey(key)));
}

export interface SignOptions {
  /** Seconds since the epoch; default an hour from now. */
  exp?: number;
  iat?: number;
  issuer?: string;
  kid?: string;
}

/** Signs arbitrary claims with EdDSA, with full control over exp, iat and issuer. */
export async function signRaw(
  key: KeyObject,
  claims: Record<string, unknown>,
  o: SignOptions = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT', kid: o.kid ?? (await kidOf(key)) })
    .setIssuer(o.issuer ?? ISSUER)
    .setSubject(String(claims.username))
    .setIssuedAt(o.iat ?? now)
    .setExpirationTime(o.exp ?? now + 3600)
    .sign(key);
}

/** The claims of a real token, minus the registered ones the signer sets again. */
export function claimsOf(token: string): Record<string, unknown> {
  const claims: Record<string, unknown> = { ...decodeJwt(token) };
  for (const k of ['iss', 'sub', 'iat', 'exp', 'nbf']) delete claims[k];
  return claims;
}

/** Same claims, the inventory's real key, but expired a minute ago. */
export async function expiredToken(config: Config, token: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return signRaw(inventoryKey(config), claimsOf(token), { iat: now - 3600, exp: now - 60 });
}

/** Same claims and the inventory's kid, signed by a key the inventory never had (through lib/auth's signer). */
export async function otherKeyToken(config: Config, token: string): Promise<string> {
  const { privateKey } = generateKeyPairSync('ed25519');
  return createTokenSigner(privateKey, await kidOf(inventoryKey(config))).sign(claimsOf(token), 3600);
}

/** Right key, wrong issuer. */
export async function wrongIssuerToken(config: Config, token: string): Promise<string> {
  return signRaw(inventoryKey(config), claimsOf(token), { issuer: 'someone-else' });
}

/** An unsigned token ({"alg":"none"}) with the given claims. */
export function algNoneToken(claims: Record<string, unknown>): string {
  const now = Math.floor(Date.now() / 1000);
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iss: ISSUER, iat: now, exp: now + 3600, ...claims })}.`;
}

/** A real token whose payload was edited (e.g. to add the admin claim) while its signature was kept. */
export function tamperedToken(token: string, patch: Record<string, unknown>): string {
  const [h, p, s] = token.split('.');
  const payload = JSON.parse(Buffer.from(p ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
  return `${h}.${b64({ ...payload, ...patch })}.${s}`;
}
