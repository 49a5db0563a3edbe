import type { Kysely } from 'kysely';
import type { Bus } from '../lib/bus/bus.ts';
import type { Config } from '../lib/config.ts';
import type { Cached } from '../lib/catalogue.ts';
import type { PortQuarantined } from '../lib/contracts/events.ts';
import type { Host } from '../lib/contracts/inventory.ts';
import type { Logger } from '../lib/log.ts';
import type { SwitchDriver } from './ovs.ts';
import type { RouterHost } from './routers.ts';
import type { PolicySource } from './secgroups.ts';
import type { NetworkDB } from './schema.ts';

export interface NetworkContext {
  db: Kysely<NetworkDB>;
  bus: Bus;
  /** The hosts admins registered in inventory (the shared catalogue cache). */
  hosts: Cached<Host>;
  ovs: SwitchDriver;
  /** The workspaces' security groups and their members (inventory's records). */
  policy: PolicySource;
  routers: RouterHost;
  config: Pick<
    Config,
    'PUBLIC_BRIDGE' | 'PRIVATE_BRIDGE' | 'VLANS' | 'VLANS_RESERVED' | 'ORPHAN_GRACE' | 'SG_PROBE_SOURCES'
  >;
  log: Logger;
  /** Tells a workspace's room (best effort; absent when no notification service is configured). */
  notify?: (workspace: string, event: PortQuarantined) => Promise<void>;
}
