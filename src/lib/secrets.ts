// The service accounts' shared secret: from config, else made once in the data dir (so `kloudak up` and every
// `kloudak serve` on one machine agree without setup).
import { randomBytes, createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function serviceSecret(configured: string | undefined, dataDir: string): string {
  return dataSecret(configured, dataDir, 'service-secret');
}

/**
 * A service's own key: HMAC-SHA256 of the platform's SERVICE_SECRET and the service's name. Inventory (which
 * holds SERVICE_SECRET) accepts for each service only its key, so a machine that runs only compute can be
 * given only compute's key (`kloudak service-key compute`, KLOUDAK_SERVICE_KEY) and cannot become any other.
 */
export function serviceKey(serviceSecretValue: string, service: string): string {
  return createHmac('sha256', serviceSecretValue).update(`kloudak-service:${service}`).digest('base64url');
}

/** The key a service presents: KLOUDAK_SERVICE_KEY when set, else derived from the service secret. */
export function ownServiceKey(
  config: { SERVICE_KEY?: string; SERVICE_SECRET?: string; DATA_DIR: string },
  service: string,
): string {
  return config.SERVICE_KEY ?? serviceKey(serviceSecret(config.SERVICE_SECRET, config.DATA_DIR), service);
}

/** A secret from config, else read from (or made once in) `dir/name`, mode 0600 in a 0700 directory. */
export function dataSecret(configured: string | undefined, dir: string, name: string): string {
  if (configured) return configured;
  const file = join(dir, name);
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const secret = randomBytes(32).toString('base64url');
  try {
    writeFileSync(file, secret, { mode: 0o600, flag: 'wx' });
    return secret;
  } catch {
    return readFileSync(file, 'utf8').trim();
  }
}

/** Constant-time comparison of two secrets of any length. */
export function sameSecret(a: string, b: string): boolean {
  const h = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(h(a), h(b));
}
