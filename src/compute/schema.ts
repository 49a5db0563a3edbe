// Compute tables: VMs and their volumes, tasks already handled (idempotency by task id), orphans seen on
// hosts, and a cached view of the catalogue that admins register once in inventory.
import type { ColumnType, Generated, JSONColumnType } from 'kysely';
import type { Template } from '../lib/contracts/inventory.ts';
import type { Outcome } from './tasks.ts';

export interface NicRecord {
  dev: string;
  mac: string;
  bridge: string;
  network?: string;
  ip?: string | null;
  /** The network's VLAN (private NICs): the domain XML tags the port with it on create, hot-plug and failover. */
  vlan?: number;
}

export interface ComputeDB {
  vms: {
    id: Generated<number>;
    workspace: string;
    name: string;
    task_id: string;
    domain: string;
    host: string;
    pool: string;
    dir: string;
    ip: string;
    memory_mib: number;
    vcpus: number;
    disk_gib: number;
    nics: JSONColumnType<NicRecord[]>;
    /** creating, running, stopped; while a task works on it: stopping, starting, resizing; deleting;
     * restarting (failover). The reconciler and failover touch only running and stopped VMs. */
    state: string;
    /** The power task that last completed on the VM. */
    power_task: ColumnType<string | null, string | null | undefined, string | null>;
    /** Its anti-affinity group of the workspace (affinity.ts), if any. */
    affinity_group: ColumnType<string | null, string | null | undefined, string | null>;
    created_at: ColumnType<Date, never, never>;
  };
  handled: {
    task_id: string;
    attempt: number;
    kind: string;
    result: JSONColumnType<Outcome>;
  };
  orphans: { host: string; kind: string; ref: string; first_seen: Generated<Date> };
  hosts: {
    name: string;
    address: string;
    libvirt_uri: string;
    area: string;
    cpus: number;
    memory: number;
    domain_type: string;
    up: Generated<boolean>;
    maintenance: Generated<boolean>;
  };
  pools: { name: string; path: string; area: string; size: number };
  areas: { name: string; subnet: string; gateway: string };
  /** Each template as inventory lists it (the contract's Template). */
  templates: { name: string; spec: JSONColumnType<Template> };
}
