// What every inventory route needs, built once by createInventory.
import type { Kysely } from 'kysely';
import type { TokenSigner, TokenVerifier } from '../lib/auth.ts';
import type { Config } from '../lib/config.ts';
import type { Logger } from '../lib/log.ts';
import type { SigningKey } from './keys.ts';
import type { Throttle } from './ratelimit.ts';
import type { InventoryDB } from './schema.ts';

export interface InventoryContext {
  db: Kysely<InventoryDB>;
  config: Config;
  log: Logger;
  signer: TokenSigner;
  signingKey: SigningKey;
  verifier: TokenVerifier;
  serviceSecret: string;
  userThrottle: Throttle;
  addressThrottle: Throttle;
}
