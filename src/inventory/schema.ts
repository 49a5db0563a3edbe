// Inventory tables, as Kysely sees them.
import type { ColumnType, Generated, JSONColumnType } from 'kysely';
import type { SgRule } from '../lib/contracts/secgroups.ts';
import type { Permission } from '../lib/auth.ts';
import type { NetState, VmState } from '../lib/contracts/common.ts';

type Created = ColumnType<Date, never, never>;
type PermissionColumns = { [P in Permission]: ColumnType<boolean, boolean | undefined, boolean> };

export interface InventoryDB {
  users: {
    id: Generated<number>;
    username: string;
    email: string;
    password_hash: string;
    is_admin: boolean;
    token_version: ColumnType<number, number | undefined, number>;
    disabled: ColumnType<boolean, boolean | undefined, boolean>;
    created_at: Created;
  };
  sessions: { id_hash: string; user_id: number; expires_at: Date };
  /** Throttled attempts per key (ratelimit.ts): how many, when the next may come, the last one's time. */
  login_throttle: { key: string; attempts: number; next_at: Date; last_at: Date };
  auth_changes: {
    seq: Generated<number>;
    kind: 'user' | 'revoke' | 'keys';
    user_id: number | null;
    detail: string | null;
    at: Generated<Date>;
  };
  workspaces: {
    id: Generated<number>;
    name: string;
    owner_id: number | null;
    state: ColumnType<'U' | 'X', 'U' | 'X' | undefined, 'U' | 'X'>;
    created_at: Created;
  };
  members: { workspace_id: number; user_id: number } & PermissionColumns;
  invitations: {
    workspace_id: number;
    username: string;
    invited_by: number | null;
    created_at: Created;
  } & PermissionColumns;
  templates: {
    id: Generated<number>;
    name: string;
    description: string;
    os: string;
    cpu: number;
    ram: number;
    disk: number;
    image: string;
    kernel: string | null;
    initrd: string | null;
    cmdline: string | null;
    created_at: Created;
  };
  areas: {
    id: Generated<number>;
    name: string;
    subnet: string;
    gateway: string;
    next_ip: string;
    created_at: Created;
  };
  hosts: {
    id: Generated<number>;
    name: string;
    address: string;
    libvirt_uri: string;
    area_id: number;
    cpus: number;
    memory: number;
    domain_type: string;
    maintenance: Generated<boolean>;
    created_at: Created;
  };
  pools: {
    id: Generated<number>;
    name: string;
    path: string;
    area_id: number;
    size: number;
    created_at: Created;
  };
  ip_leases: {
    area_id: number;
    ip: number;
    vm_id: number | null;
    task: string | null;
    leased_at: Generated<Date>;
  };
  vms: {
    id: Generated<number>;
    workspace_id: number;
    name: string;
    description: string;
    ip: string | null;
    state: VmState;
    area_id: number;
    template_id: number;
    /** vCPUs and memory (GiB): the template's at create, the VM's own after a resize. */
    cpu: number;
    ram: number;
    host: string | null;
    task: string | null;
    created_at: Created;
    updated_at: Generated<Date>;
    /** Names of the security groups the VM's NICs belong to (JSON text on writes). */
    security_groups: JSONColumnType<string[], string | undefined, string>;
    /** Its anti-affinity group of the workspace (issue 18), if any. */
    affinity_group: ColumnType<string | null, string | null | undefined, string | null>;
  };
  /** A VM's snapshots (issue 15): the data is inside the VM's disk on the shared pool, the record says what
   * exists. They go with their VM (cascade). */
  vm_snapshots: {
    id: Generated<number>;
    vm_id: number;
    name: string;
    state: 'C' | 'U';
    running: boolean | null;
    task: string | null;
    created_at: Created;
  };
  security_groups: {
    id: Generated<number>;
    workspace_id: number;
    name: string;
    description: string;
    rules: JSONColumnType<SgRule[], string, string>;
    task: string | null;
    created_at: Created;
  };
  vm_networks: { vm_id: number; network_id: number; ip: string | null; mac: string | null };
  networks: {
    id: Generated<number>;
    workspace_id: number;
    name: string;
    description: string;
    state: NetState;
    vlan: number | null;
    subnet: string | null;
    task: string | null;
    created_at: Created;
  };
  routers: {
    id: Generated<number>;
    workspace_id: number;
    name: string;
    state: NetState;
    host: string | null;
    task: string | null;
    created_at: Created;
  };
  router_interfaces: { router_id: number; network_id: number; ip: string };
  ssh_keys: {
    id: Generated<number>;
    user_id: number;
    name: string;
    public_key: string;
    type: string;
    bits: number;
    fingerprint: string;
    comment: string;
    created_at: Created;
  };
  quotas: {
    workspace_id: number;
    vms: number | null;
    vcpus: number | null;
    ram: number | null;
    disk: number | null;
    networks: number | null;
    routers: number | null;
    snapshots: number | null;
    updated_at: Generated<Date>;
  };
  accepts: {
    task: string;
    workspace_id: number;
    op: string;
    undone: Generated<boolean>;
    /** JSON text on the way in, parsed on the way out. */
    answer: ColumnType<unknown, string | null, string | null>;
    undo: ColumnType<unknown, string, string>;
    /** The quota share the accept takes at its commit (migration 019), JSON text; null when none. */
    share: ColumnType<unknown, string | null | undefined, string | null>;
    created_at: Created;
  };
}
