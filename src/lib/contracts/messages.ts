// The bus contract (DESIGN "Bus contract"): every queue, what it carries, and the RPC answers. The bus
// checks each message against its queue's schema where it arrives (src/lib/bus/delivery.ts); one that does
// not match goes to `<queue>.dead` with the schema's complaint and never reaches a handler.
//
// Tasks are tagged unions by `type` and `method`. A new task is one variant in its queue's union and one
// entry in the handler table of the worker that does it (src/compute/tasks.ts, src/network/tasks.ts).
import { Type, type Static, type TObject, type TProperties } from 'typebox';
import {
  AffinityGroupName,
  Cpu,
  Ip,
  Name,
  Nullable,
  PowerAction,
  Ram,
  SnapshotAction,
  SnapshotName,
  VmState,
} from './common.ts';
import { Template, Vm, RouterInterface } from './inventory.ts';
import { GroupNames, SgRules } from './secgroups.ts';
import { checker, taggedUnion, type Checker } from './validate.ts';

/** Queue names (the book's, plus host_up). */
export const QUEUES = {
  vm: 'vm',
  network: 'network',
  vmNotification: 'vm_notification',
  networkNotification: 'network_notification',
  vmRollback: 'vm_rollback',
  networkRollback: 'network_rollback',
  hostFailure: 'host_failure',
  hostUp: 'host_up',
  workspace: 'workspace',
  workspaceRollback: 'workspace_rollback',
  workspaceNotification: 'workspace_notification',
  placeHost: 'placement_host',
  placePool: 'placement_pool',
  /** Compute: whether a VM's host has room for its new size (a resize, before it is accepted). */
  vmRoom: 'vm_room',
  /** RPC to the network service: a VM's ports on a host made ready (live migration, before the switch). */
  portsPrepare: 'ports_prepare',
} as const;

/** A monitoring member's own queue: its share of each cycle (an RPC from the leader). */
export const MONITOR_QUEUE_PREFIX = 'monitor.';
export const monitorQueue = (member: string) => `${MONITOR_QUEUE_PREFIX}${member}` as const;

const closed = { additionalProperties: false } as const;
/** Task ids: the controller's (a UUID), or one a worker makes for a follow-up nobody waits for. */
const TaskRef = Type.String({ pattern: '^[A-Za-z0-9-]{1,128}$' });
const Vlan = Type.Integer({ minimum: 1, maximum: 4094 });

// ---- tasks ----

/** What every task carries (DESIGN "Bus contract"). */
const taskFields = {
  task_id: TaskRef,
  owner: Name('workspace'),
  name: Name(),
  /** Retries left after this attempt (the book's field). */
  retries: Type.Integer({ minimum: 0 }),
  /** 1 for the first delivery, +1 per resubmission: results name it so stale results are ignored. */
  attempt: Type.Integer({ minimum: 1 }),
  request_id: Type.Optional(Type.String({ maxLength: 128 })),
  /** false: nobody waits for the result (a rollback's or a failover's follow-up), so none is sent. */
  notify: Type.Optional(Type.Boolean()),
};

/** One task variant: its type and method, the common fields, and its own. */
function task<const T extends string, const M extends string, P extends TProperties>(
  type: T,
  method: M,
  own: P,
) {
  return Type.Object(
    { type: Type.Literal(type), method: Type.Literal(method), ...taskFields, ...own },
    closed,
  );
}

/** The same task sent to a rollback queue once its retries are spent. */
function rollbackOf<P extends TProperties>(t: TObject<P>) {
  return Type.Object(
    {
      ...t.properties,
      rollback: Type.Literal(true),
      error: Type.String({ description: "the last attempt's error" }),
      failed_stage: Type.String(),
    },
    closed,
  );
}

const AreaRef = Type.Object({ name: Type.String(), subnet: Type.String(), gateway: Type.String() }, closed);
/** A private network of a VM as the controller found it: its VLAN and subnet, and the VM's address on it. */
const VmNetwork = Type.Object(
  { name: Name('network'), vlan: Nullable(Type.Integer()), subnet: Nullable(Type.String()) },
  closed,
);
const UpdateDict = Type.Object(
  {
    name: Type.Optional(Name()),
    description: Type.Optional(Type.String({ maxLength: 1024 })),
    networks: Type.Optional(Type.Array(Name('network'))),
    cpu: Type.Optional(Cpu),
    ram: Type.Optional(Ram),
    security_groups: Type.Optional(GroupNames),
    affinity_group: Type.Optional(Nullable(AffinityGroupName)),
  },
  closed,
);

// The vm queue (compute).
export const VmCreateTask = task('vm', 'POST', {
  description: Type.String(),
  area: AreaRef,
  template: Template,
  password: Type.Optional(Type.String()),
  runcmd: Type.Optional(Type.Array(Type.String())),
  /** Public key lines of the keys the request named (ssh_keys), for root's authorized_keys. */
  ssh_keys: Type.Optional(Type.Array(Type.String(), { maxItems: 32 })),
  /** The user's #cloud-config, checked by the controller; compute merges it with the platform's keys. */
  user_data: Type.Optional(Type.String({ maxLength: 16384 })),
  ip: Ip,
  networks: Type.Array(Type.Object({ ...VmNetwork.properties, ip: Nullable(Type.String()) }, closed)),
  /** Its anti-affinity group: placement keeps it off hosts running the group's other VMs while it can. */
  affinity_group: Type.Optional(AffinityGroupName),
});
export const VmUpdateTask = task('vm', 'PUT', {
  update_dict: UpdateDict,
  /** The VM's networks after the change, when they change. */
  networks_after: Type.Optional(Type.Array(VmNetwork)),
  host: Nullable(Type.String()),
  /** The inventory record before the change. */
  vm: Vm,
});
export const VmDeleteTask = task('vm', 'DELETE', {
  ip: Nullable(Type.String()),
  area: Type.String(),
  host: Nullable(Type.String()),
  networks: Type.Array(Type.String()),
  interfaces: Vm.properties.interfaces,
});
export const VmPowerTask = task('vm', 'POWER', {
  action: PowerAction,
  /** Seconds a stop (or a reboot's stop) waits for the guest to power off before forcing it. */
  timeout: Type.Integer({ minimum: 1, maximum: 3600 }),
  host: Nullable(Type.String()),
});
export const VmMigrateTask = task('vm', 'MIGRATE', {
  /** The host asked for; null: placement picks one of the area's other hosts. */
  to: Nullable(Name('host')),
  /** Where the VM ran when the move was accepted. */
  from: Nullable(Type.String()),
  area: Type.String(),
});
/** A snapshot of the VM (`name`) taken (in the state the VM is in: running with its memory, or stopped),
 * reverted to, or deleted. */
export const VmSnapshotTask = task('vm', 'SNAPSHOT', {
  action: SnapshotAction,
  snapshot: SnapshotName,
  host: Nullable(Type.String()),
});
/** A host's drain (its `name`): every running VM moved live elsewhere, `parallel` at a time. */
export const HostDrainTask = task('host', 'DRAIN', {
  parallel: Type.Integer({ minimum: 1, maximum: 64 }),
  /** Move a VM even onto a host running another VM of its anti-affinity group (else it stays, named). */
  break_affinity: Type.Optional(Type.Boolean()),
});
/** A host back in placement (inventory's flag is already off; compute's copy follows). */
export const HostRestoreTask = task('host', 'RESTORE', {});
export const VmTask = taggedUnion('the vm queue', [
  VmCreateTask,
  VmUpdateTask,
  VmDeleteTask,
  VmPowerTask,
  VmMigrateTask,
  HostDrainTask,
  HostRestoreTask,
  VmSnapshotTask,
]);
export const VmRollback = taggedUnion('the vm_rollback queue', [
  rollbackOf(VmCreateTask),
  rollbackOf(VmUpdateTask),
  rollbackOf(VmDeleteTask),
  rollbackOf(VmPowerTask),
  rollbackOf(VmMigrateTask),
  rollbackOf(HostDrainTask),
  rollbackOf(HostRestoreTask),
  rollbackOf(VmSnapshotTask),
]);

// The network queue (network): the controller's network, router and interface tasks, and compute's port
// tasks for a VM (type 'vm': tag its ports on a host, or drop them).
export const NetworkCreateTask = task('network', 'POST', {
  description: Type.String(),
  subnet: Nullable(Type.String()),
});
export const NetworkUpdateTask = task('network', 'PUT', {
  update_dict: Type.Object(
    { name: Type.Optional(Name()), description: Type.Optional(Type.String()) },
    closed,
  ),
  vlan: Nullable(Type.Integer()),
});
export const NetworkDeleteTask = task('network', 'DELETE', { vlan: Nullable(Type.Integer()) });
export const RouterCreateTask = task('router', 'POST', {});
export const RouterDeleteTask = task('router', 'DELETE', {
  host: Nullable(Type.String()),
  interfaces: Type.Array(RouterInterface),
});
const interfaceFields = {
  /** `<router>.<network>` */
  name: Type.String({ pattern: '^[A-Za-z0-9_.-]{3,129}$' }),
  router: Name('router'),
  network: Name('network'),
  ip: Ip,
  vlan: Nullable(Type.Integer()),
  subnet: Nullable(Type.String()),
  host: Nullable(Type.String()),
};
export const InterfaceCreateTask = task('interface', 'POST', interfaceFields);
export const InterfaceDeleteTask = task('interface', 'DELETE', interfaceFields);
/** A private NIC of a VM: its OVS port (dev) on the host's private bridge, and its network. */
export const Port = Type.Object(
  { dev: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,15}$' }), mac: Type.String(), network: Name('network') },
  closed,
);
/** A VM's public NIC: its port on the host's public bridge forwards only this MAC with this IPv4. */
export const PublicPort = Type.Object(
  {
    dev: Type.String({ pattern: '^k[0-9a-f]{8}n[0-9]{1,4}$' }),
    mac: Type.String({ pattern: '^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$' }),
    ip: Ip,
  },
  closed,
);
const portFields = {
  host: Name('host'),
  interfaces: Type.Array(Port),
  /** Absent in tasks of a compute from before port security: then only the private ports are handled. */
  public: Type.Optional(PublicPort),
};
export const PortsTagTask = task('vm', 'POST', portFields);
export const PortsChangeTask = task('vm', 'PUT', {
  ...portFields,
  removed: Type.Array(Port),
  /** The VM's new name when the change renamed it: its port records (security group membership) follow. */
  renamed_to: Type.Optional(Name('vm')),
});
export const PortsDropTask = task('vm', 'DELETE', portFields);
// Security groups (issue 17): inventory holds the rules and who belongs (written when the task is accepted);
// the network service puts them on every host a member's port lives on. A change carries the rules before
// it, so its rollback puts them back on the hosts.
export const SecurityGroupCreateTask = task('security_group', 'POST', {});
export const SecurityGroupUpdateTask = task('security_group', 'PUT', {
  rules: SgRules,
  previous_rules: SgRules,
});
export const SecurityGroupDeleteTask = task('security_group', 'DELETE', {});
export const NetworkTask = taggedUnion('the network queue', [
  NetworkCreateTask,
  NetworkUpdateTask,
  NetworkDeleteTask,
  RouterCreateTask,
  RouterDeleteTask,
  InterfaceCreateTask,
  InterfaceDeleteTask,
  PortsTagTask,
  PortsChangeTask,
  PortsDropTask,
  SecurityGroupCreateTask,
  SecurityGroupUpdateTask,
  SecurityGroupDeleteTask,
]);
export const NetworkRollback = taggedUnion('the network_rollback queue', [
  rollbackOf(NetworkCreateTask),
  rollbackOf(NetworkUpdateTask),
  rollbackOf(NetworkDeleteTask),
  rollbackOf(RouterCreateTask),
  rollbackOf(RouterDeleteTask),
  rollbackOf(InterfaceCreateTask),
  rollbackOf(InterfaceDeleteTask),
  rollbackOf(SecurityGroupCreateTask),
  rollbackOf(SecurityGroupUpdateTask),
  rollbackOf(SecurityGroupDeleteTask),
]);

// The workspace queue (the controller's own teardown worker, src/controller/teardown.ts): a whole workspace
// deleted through the workers, its objects' tasks accepted one by one. `name` and `owner` are the workspace.
export const WorkspaceDeleteTask = task('workspace', 'DELETE', {});
export const WorkspaceTask = taggedUnion('the workspace queue', [WorkspaceDeleteTask]);
export const WorkspaceRollback = taggedUnion('the workspace_rollback queue', [
  rollbackOf(WorkspaceDeleteTask),
]);

// ---- results (vm_notification, network_notification, workspace_notification) ----

/** A NIC as a worker reports it: compute its MAC and address, network its VLAN. */
const ResultNic = Type.Object(
  {
    network: Type.String(),
    mac: Type.String(),
    ip: Type.Optional(Nullable(Type.String())),
    vlan: Type.Optional(Type.Integer()),
  },
  closed,
);
export const TaskResult = Type.Object(
  {
    task_id: TaskRef,
    /** progress: the task runs on; `stage` says how far (a migration's percentage). */
    status: Type.Union([Type.Literal('successful'), Type.Literal('failed'), Type.Literal('progress')]),
    stage: Type.Optional(Type.String({ maxLength: 128 })),
    attempt: Type.Optional(Type.Integer({ minimum: 1 })),
    retries: Type.Optional(Type.Integer({ minimum: 0 })),
    error: Type.Optional(Type.String()),
    /** Set by rollback workers. */
    rollback: Type.Optional(Type.Boolean()),
    /** Which worker answered. */
    from: Type.Optional(
      Type.Union([Type.Literal('compute'), Type.Literal('network'), Type.Literal('controller')]),
    ),
    /** Compute: the network service still has to configure the VM's ports for this task. */
    network_pending: Type.Optional(Type.Boolean()),
    /** Where the VM or router runs. */
    host: Type.Optional(Type.String()),
    /** A network's VLAN. */
    vlan: Type.Optional(Nullable(Vlan)),
    interfaces: Type.Optional(Type.Array(ResultNic)),
    /** Compute: the VM's power state as its host reports it (a power task's rollback says where it ended). */
    state: Type.Optional(VmState),
    /** Compute: what the task did that was not what was asked (an anti-affinity group not honoured). */
    warning: Type.Optional(Type.String({ maxLength: 2048 })),
    /** Compute, a snapshot taken: whether it holds the running guest's memory (it reverts running). */
    snapshot_running: Type.Optional(Type.Boolean()),
  },
  closed,
);

// ---- host events (host_failure, host_up), from monitoring to compute ----
export const HostEvent = Type.Object(
  { host: Name('host'), area: Name('area'), at: Type.String({ format: 'date-time' }) },
  closed,
);

// ---- RPC ----
export const HostPlacementRequest = Type.Object(
  {
    area: Type.String({ minLength: 1 }),
    /** 0 for a resize that needs no more memory, only vCPUs (or the other way round). */
    memoryMib: Type.Number({ minimum: 0 }),
    vcpus: Type.Integer({ minimum: 0 }),
    /** Hosts not to use (a failed host when restarting its VMs). */
    exclude: Type.Optional(Type.Array(Type.String())),
    /** Only these hosts may answer (a resize: the VM's own host). */
    only: Type.Optional(Type.Array(Type.String())),
    /**
     * The domain the room is for: its reservation ends when a check finds it running on the host (its memory
     * and vCPUs are then in the host's figures; counted twice, a burst of creates ran out of room).
     */
    domain: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  },
  closed,
);
export const HostPlacement = Type.Object({
  host: Type.String({ minLength: 1 }),
  freeMib: Type.Optional(Type.Number()),
});
export const PoolPlacementRequest = Type.Object(
  { area: Type.String({ minLength: 1 }), sizeGib: Type.Number({ exclusiveMinimum: 0 }) },
  closed,
);
export const PoolPlacement = Type.Object({
  pool: Type.String({ minLength: 1 }),
  freeGib: Type.Optional(Type.Number()),
});

/** vm_room: can the VM take this size on its host? Answered with the host, or a conflict naming what lacks. */
export const VmRoomRequest = Type.Object(
  {
    owner: Name('workspace'),
    name: Name(),
    vcpus: Type.Integer({ minimum: 1 }),
    memoryMib: Type.Number({ exclusiveMinimum: 0 }),
  },
  closed,
);
export const VmRoom = Type.Object({ host: Type.String({ minLength: 1 }) });

export const HostWork = Type.Object(
  { name: Type.String(), area: Type.String(), libvirt_uri: Type.String() },
  closed,
);
/** The network service's answer to ports_prepare: the private ports it tagged and recorded. */
export const PortsPrepared = Type.Object({ interfaces: Type.Array(ResultNic) });

export const PoolWork = Type.Object(
  {
    name: Type.String(),
    path: Type.String(),
    /** Address of an up host of the pool's area, where the pool is mounted. */
    via: Type.String(),
  },
  closed,
);
/** The leader's RPC to a member (monitor.<member>): the hosts and pools it checks this cycle. */
export const MonitorWork = Type.Object(
  { cycle: Type.Integer(), leader: Type.String(), hosts: Type.Array(HostWork), pools: Type.Array(PoolWork) },
  closed,
);
export const MonitorReport = Type.Object({
  member: Type.String(),
  hosts: Type.Integer(),
  failed: Type.Integer(),
  pools: Type.Integer(),
  ms: Type.Number(),
});

// ---- the tables the bus reads ----

const resultChecker = checker(TaskResult);
const hostEventChecker = checker(HostEvent);

/** What each work queue carries. */
export const QUEUE_MESSAGES = {
  vm: VmTask,
  vm_rollback: VmRollback,
  network: NetworkTask,
  network_rollback: NetworkRollback,
  workspace: WorkspaceTask,
  workspace_rollback: WorkspaceRollback,
  vm_notification: resultChecker,
  network_notification: resultChecker,
  workspace_notification: resultChecker,
  host_failure: hostEventChecker,
  host_up: hostEventChecker,
} satisfies Record<string, Checker<unknown>>;

/** What each RPC queue is asked and answers. */
export const RPC_MESSAGES = {
  placement_host: { request: checker(HostPlacementRequest), reply: checker(HostPlacement) },
  placement_pool: { request: checker(PoolPlacementRequest), reply: checker(PoolPlacement) },
  vm_room: { request: checker(VmRoomRequest), reply: checker(VmRoom) },
  ports_prepare: { request: checker(PortsTagTask), reply: checker(PortsPrepared) },
} satisfies Record<string, { request: Checker<unknown>; reply: Checker<unknown> }>;
const monitorRpc = { request: checker(MonitorWork), reply: checker(MonitorReport) };

type Queues = typeof QUEUE_MESSAGES;
type Rpcs = typeof RPC_MESSAGES;
type MonitorQueue = `${typeof MONITOR_QUEUE_PREFIX}${string}`;
type Checked<C> = C extends Checker<infer T> ? T : never;

/** The message type of a queue; any JSON object on a queue outside the contract (tests' own queues). */
export type MessageOf<Q extends string> = Q extends keyof Queues
  ? Checked<Queues[Q]>
  : Q extends keyof Rpcs | MonitorQueue
    ? RpcRequestOf<Q>
    : Record<string, unknown>;
export type RpcRequestOf<Q extends string> = Q extends keyof Rpcs
  ? Checked<Rpcs[Q]['request']>
  : Q extends MonitorQueue
    ? Static<typeof MonitorWork>
    : Record<string, unknown>;
export type RpcReplyOf<Q extends string> = Q extends keyof Rpcs
  ? Checked<Rpcs[Q]['reply']>
  : Q extends MonitorQueue
    ? Static<typeof MonitorReport>
    : unknown;

const isDead = (queue: string) => queue.endsWith('.dead');

/** The checker of a work queue's messages (undefined: a queue outside the contract, or a dead-letter queue). */
export function messageChecker(queue: string): Checker<unknown> | undefined {
  if (isDead(queue)) return undefined;
  return (QUEUE_MESSAGES as Record<string, Checker<unknown>>)[queue] ?? rpcCheckers(queue)?.request;
}

/** The checkers of an RPC queue's requests and answers. */
export function rpcCheckers(
  queue: string,
): { request: Checker<unknown>; reply: Checker<unknown> } | undefined {
  if (isDead(queue)) return undefined;
  if (queue.startsWith(MONITOR_QUEUE_PREFIX)) return monitorRpc;
  return (RPC_MESSAGES as Record<string, { request: Checker<unknown>; reply: Checker<unknown> }>)[queue];
}

export type VmTask = Checked<typeof VmTask>;
export type VmRollback = Checked<typeof VmRollback>;
export type VmCreateTask = Static<typeof VmCreateTask>;
export type VmUpdateTask = Static<typeof VmUpdateTask>;
export type VmDeleteTask = Static<typeof VmDeleteTask>;
export type VmPowerTask = Static<typeof VmPowerTask>;
export type VmMigrateTask = Static<typeof VmMigrateTask>;
export type VmSnapshotTask = Static<typeof VmSnapshotTask>;
export type HostDrainTask = Static<typeof HostDrainTask>;
export type HostRestoreTask = Static<typeof HostRestoreTask>;
export type NetworkTask = Checked<typeof NetworkTask>;
export type NetworkRollback = Checked<typeof NetworkRollback>;
export type WorkspaceTask = Checked<typeof WorkspaceTask>;
export type WorkspaceRollback = Checked<typeof WorkspaceRollback>;
export type WorkspaceDeleteTask = Static<typeof WorkspaceDeleteTask>;
export type Port = Static<typeof Port>;
export type PublicPort = Static<typeof PublicPort>;
export type TaskResult = Static<typeof TaskResult>;
export type HostEvent = Static<typeof HostEvent>;
export type HostPlacementRequest = Static<typeof HostPlacementRequest>;
export type HostPlacement = Static<typeof HostPlacement>;
export type PoolPlacementRequest = Static<typeof PoolPlacementRequest>;
export type PoolPlacement = Static<typeof PoolPlacement>;
export type VmRoomRequest = Static<typeof VmRoomRequest>;
export type VmRoom = Static<typeof VmRoom>;
export type HostWork = Static<typeof HostWork>;
export type PoolWork = Static<typeof PoolWork>;
export type MonitorWork = Static<typeof MonitorWork>;
export type MonitorReport = Static<typeof MonitorReport>;
/** Any task a controller sends (to a work queue or, spent, to a rollback queue). */
export type AnyTask = VmTask | VmRollback | NetworkTask | NetworkRollback | WorkspaceTask | WorkspaceRollback;
/** The `<type> <method>` key of a task variant. */
export type TaskKey<T extends { type: string; method: string }> = `${T['type']} ${T['method']}`;

/** The fields every task carries (the controller's, and compute's follow-ups). */
export type TaskCommon = Pick<VmTask, 'task_id' | 'owner' | 'name' | 'retries' | 'attempt' | 'request_id'>;
/** The tasks the controller sends (the network queue's `vm` tasks are compute's). */
export type ControllerTask = VmTask | Exclude<NetworkTask, { type: 'vm' }> | WorkspaceTask;
/** A controller task sent, spent, to a rollback queue. */
export type SpentTask = VmRollback | NetworkRollback | WorkspaceRollback;
