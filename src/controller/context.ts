import type { Authenticate } from '../lib/auth.ts';
import type { Config } from '../lib/config.ts';
import type { Logger } from '../lib/log.ts';
import type { InventoryClient } from '../lib/clients/inventory.ts';
import type { TaskEvent } from '../lib/contracts/events.ts';
import type { VmRoom, VmRoomRequest } from '../lib/contracts/messages.ts';
import type { Relay } from './relay.ts';
import type { Sealer } from './seal.ts';
import type { Db } from './store.ts';

/** Sends an event to every member of a workspace room (the notification service). */
export interface RoomNotifier {
  send(workspace: string, event: TaskEvent): Promise<void>;
}

/** What the controller asks compute before accepting a task (over the bus, RPC). */
export interface ComputeQueries {
  /** Whether the VM's host has room for the size (vm_room); a conflict names what lacks. */
  room(r: VmRoomRequest, requestId: string): Promise<VmRoom>;
}

export interface ControllerContext {
  db: Db;
  inventory: InventoryClient;
  /** Checks a request's token and answers the caller's current standing (src/lib/authority.ts). */
  auth: Authenticate;
  relay: Pick<Relay, 'kick'>;
  /** Seals guests' secrets in task and outbox rows (seal.ts). */
  sealer: Sealer;
  notifier: RoomNotifier;
  compute: ComputeQueries;
  /** The controller's own service token (to compute's console bridge). */
  serviceToken: () => Promise<string>;
  config: Pick<Config, 'RETRIES' | 'RETRY_WAIT' | 'COMPUTE_URL' | 'HTTP_TIMEOUT'>;
  log: Logger;
}
