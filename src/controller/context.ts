import type { TokenVerifier } from '../lib/auth.ts';
import type { Config } from '../lib/config.ts';
import type { Logger } from '../lib/log.ts';
import type { InventoryApi } from './inventory.ts';
import type { Relay } from './relay.ts';
import type { Db } from './store.ts';

/** Sends a message to every member of a workspace room (the notification service). */
export interface RoomNotifier {
  send(workspace: string, message: Record<string, unknown>): Promise<void>;
}

export interface ControllerContext {
  db: Db;
  inventory: InventoryApi;
  verifier: TokenVerifier;
  relay: Pick<Relay, 'kick'>;
  notifier: RoomNotifier;
  config: Pick<Config, 'RETRIES' | 'RETRY_WAIT'>;
  log: Logger;
}
