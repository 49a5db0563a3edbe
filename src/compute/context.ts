import type { Kysely } from 'kysely';
import type { Bus } from '../lib/bus/bus.ts';
import type { Config } from '../lib/config.ts';
import type { Logger } from '../lib/log.ts';
import type { GroupLocks } from './affinity.ts';
import type { ComputeCatalogue } from './catalogue.ts';
import type { Hypervisor } from './hypervisor.ts';
import type { Placement } from './placement.ts';
import type { ComputeDB } from './schema.ts';
import type { SnapshotMetadata } from './snapshot-metadata.ts';
import type { Storage } from './storage.ts';

/** What compute asks and tells inventory about a VM's record. */
export interface VmRecords {
  /** Whether the record still exists (undefined: could not tell). */
  exists(workspace: string, name: string): Promise<boolean | undefined>;
  /** Sets the power state the host reports (U or D) on a record that is up or down; false when it is in
   * another state (a task owns it) or gone. */
  setPowerState(workspace: string, name: string, state: 'U' | 'D'): Promise<boolean>;
  /** Records where the VM runs now (a drain's moves; a migrate task's move is recorded by the controller). */
  setHost(workspace: string, name: string, host: string): Promise<void>;
}

export interface ComputeContext {
  db: Kysely<ComputeDB>;
  bus: Bus;
  catalogue: ComputeCatalogue;
  placement: Placement;
  hypervisor: Hypervisor;
  storage: Storage;
  snapshotMetadata: SnapshotMetadata;
  records: VmRecords;
  config: Pick<
    Config,
    'PUBLIC_BRIDGE' | 'PRIVATE_BRIDGE' | 'ORPHAN_GRACE' | 'MIGRATE_TIMEOUT' | 'MIGRATE_DOWNTIME'
  >;
  log: Logger;
  /** Placement decisions of one anti-affinity group, one at a time (absent: no serialization, tests). */
  groupLocks?: GroupLocks;
}
