import type { Kysely } from 'kysely';
import type { Bus } from '../lib/bus/bus.ts';
import type { Config } from '../lib/config.ts';
import type { Logger } from '../lib/log.ts';
import type { ComputeCatalogue } from './catalogue.ts';
import type { Hypervisor } from './hypervisor.ts';
import type { Placement } from './placement.ts';
import type { ComputeDB } from './schema.ts';
import type { Storage } from './storage.ts';

/** What compute asks inventory about a VM: whether its record still exists (undefined: could not tell). */
export interface VmRecords {
  exists(workspace: string, name: string): Promise<boolean | undefined>;
}

export interface ComputeContext {
  db: Kysely<ComputeDB>;
  bus: Bus;
  catalogue: ComputeCatalogue;
  placement: Placement;
  hypervisor: Hypervisor;
  storage: Storage;
  records: VmRecords;
  config: Pick<Config, 'PUBLIC_BRIDGE' | 'PRIVATE_BRIDGE' | 'ORPHAN_GRACE'>;
  log: Logger;
}
