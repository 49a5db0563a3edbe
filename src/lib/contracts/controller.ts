// The controller API (DESIGN "Public APIs"): the requests that create, edit and delete workspace objects,
// answered 202 with the task, and the task views.
import { Type, type Static } from 'typebox';
import {
  AffinityGroupName,
  Cpu,
  Method,
  Name,
  Nullable,
  ObjectType,
  OneOf,
  PowerAction,
  Ram,
  SnapshotName,
  USER_DATA_MAX_BYTES,
} from './common.ts';
import { GroupNames, SgRules } from './secgroups.ts';

const Owner = Name('workspace that owns the object');
const Description = Type.Optional(Type.String({ maxLength: 1024 }));
const Networks = Type.Array(Name('network'), { maxItems: 16, uniqueItems: true });

/** DELETE /vms/, /networks/, /routers/ and POST /routers/. */
export const Target = Type.Object({ owner: Owner, name: Name() });
/**
 * DELETE /workspaces/ (the owner, or an admin): a task deletes every VM, router and network through their
 * workers, freeing every address, VLAN and router namespace, then the workspace's records.
 */
export const WorkspaceTarget = Type.Object({ owner: Name('the workspace to delete') });

export const VmPost = Type.Object({
  name: Name(),
  description: Description,
  owner: Owner,
  networks: Type.Optional(Networks),
  area: Name('area'),
  template: Name('template'),
  password: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 128,
      pattern: '^[^\\n\\r\\x00]*$',
      description:
        'root password of the guest (console login; SSH passwords on). Without one, SSH passwords are off',
    }),
  ),
  ssh_keys: Type.Optional(
    Type.Array(Name('key name'), {
      maxItems: 32,
      uniqueItems: true,
      description: "names of the caller's keys (GET /keys/ of inventory) for root's authorized_keys",
    }),
  ),
  user_data: Type.Optional(
    Type.String({
      maxLength: USER_DATA_MAX_BYTES,
      description: `a #cloud-config document (at most ${USER_DATA_MAX_BYTES} bytes), merged with the platform's keys (hostname, network, password)`,
    }),
  ),
  runcmd: Type.Optional(
    Type.Array(Type.String({ minLength: 1, maxLength: 1024, pattern: '^[^\\n\\r\\x00]*$' }), {
      maxItems: 32,
      description: 'shell lines the guest runs at first boot',
    }),
  ),
  security_groups: Type.Optional(GroupNames),
  affinity_group: Type.Optional(AffinityGroupName),
});
/** POST /vms/migrate/ (admins): a live move; without host, placement picks another host of the VM's area. */
export const VmMigrate = Type.Object({
  owner: Owner,
  name: Name(),
  host: Type.Optional(Name('host')),
});

/** POST /hosts/drain/ and /hosts/restore/ (admins). */
export const HostTarget = Type.Object({
  host: Name('host'),
  parallel: Type.Optional(
    Type.Integer({ minimum: 1, maximum: 64, description: 'drain: VMs moved at once (default 2)' }),
  ),
  break_affinity: Type.Optional(
    Type.Boolean({
      description:
        'drain: move a VM even when the only hosts with room already run a VM of its anti-affinity group (default false: it stays and the task fails naming it)',
    }),
  ),
});

export const VmPut = Type.Object({
  owner: Owner,
  name: Name(),
  update_dict: Type.Object(
    {
      name: Type.Optional(Name()),
      description: Description,
      networks: Type.Optional(Networks),
      // A resize (cold: the VM is stopped, redefined and started again when it was running).
      cpu: Type.Optional(Cpu),
      ram: Type.Optional(Ram),
      security_groups: Type.Optional(GroupNames),
      // Joins the group (null: leaves it). Placement, failover and drains follow it from then on; a VM
      // already sharing a host with another member stays there (the task warns).
      affinity_group: Type.Optional(Nullable(AffinityGroupName)),
    },
    { additionalProperties: false },
  ),
});
/** POST /vms/power/ */
export const VmPower = Type.Object({
  owner: Owner,
  name: Name(),
  action: PowerAction,
  timeout: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: 3600,
      description: 'seconds a stop or reboot waits for the guest to power off before forcing it (default 60)',
    }),
  ),
});
/** POST /snapshots/, POST /snapshots/revert/, DELETE /snapshots/: one snapshot of a VM. */
export const SnapshotTarget = Type.Object({
  owner: Owner,
  vm: Name('the VM'),
  name: SnapshotName,
});
export const NetworkPost = Type.Object({
  owner: Owner,
  name: Name(),
  description: Description,
  subnet: Type.Optional(Type.String({ maxLength: 18 })),
});
export const NetworkPut = Type.Object({
  owner: Owner,
  name: Name(),
  update_dict: Type.Object({ name: Type.Optional(Name()), description: Description }),
});
/** POST /security_groups/ (issue 17). */
export const SecurityGroupPost = Type.Object({
  owner: Owner,
  name: Name(),
  description: Description,
  rules: SgRules,
});
export const SecurityGroupPut = Type.Object({
  owner: Owner,
  name: Name(),
  update_dict: Type.Object({ description: Description, rules: Type.Optional(SgRules) }),
});
export const InterfacePost = Type.Object({
  owner: Owner,
  router: Name('router'),
  network: Name('network'),
  ip: Type.String({ maxLength: 15 }),
});
export const InterfaceDelete = Type.Object({
  owner: Owner,
  router: Name('router'),
  network: Name('network'),
});

export const TaskParams = Type.Object({ id: Type.String({ pattern: '^[0-9a-f-]{36}$' }) });
export const WaitQuery = Type.Object({
  wait: Type.Optional(
    Type.String({ pattern: '^[0-9]{1,3}$', description: 'seconds to wait for the task to end (max 120)' }),
  ),
});
export const TaskListParams = Type.Object({ ws: Name('workspace') });
export const TaskListQuery = Type.Object({
  limit: Type.Optional(
    Type.String({ pattern: '^[0-9]{1,4}$', description: 'at most this many (1-1000, default 100)' }),
  ),
  marker: Type.Optional(
    Type.String({ pattern: '^[0-9a-f-]{36}$', description: 'the last task of the previous page' }),
  ),
});

export const TASK_STATUSES = [
  'accepting',
  'pending',
  'running',
  'successful',
  'rolling_back',
  'rolled_back',
  'failed',
] as const;
export const TaskStatus = OneOf(TASK_STATUSES);
/** A task in one of these has ended: it changes no more. */
export const FINISHED_STATUSES = ['successful', 'rolled_back', 'failed'] as const;

/** 202: the request is a task now; follow it at Location (/task/<id>/). */
export const Accepted = Type.Object({
  task_id: Type.String(),
  status: Type.Literal('pending'),
  type: ObjectType,
  method: Method,
  name: Type.String(),
});
/** A VM create's answer also names the address the VM got. */
export const VmAccepted = Type.Object({ ...Accepted.properties, ip: Type.String() });

/** A task as the API shows it (the message it sent, with its password, is never shown). */
export const Task = Type.Object({
  task_id: Type.String(),
  workspace: Type.String(),
  type: ObjectType,
  method: Method,
  object: Type.String(),
  status: TaskStatus,
  stage: Type.String(),
  retries_left: Type.Integer(),
  attempt: Type.Integer(),
  deliveries: Type.Integer(),
  error: Nullable(Type.String()),
  /** What the task did that was not what was asked (an anti-affinity group it could not honour). */
  warning: Type.Optional(Type.String()),
  username: Type.String(),
  request_id: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
  finished_at: Nullable(Type.String({ format: 'date-time' })),
});
export const TaskList = Type.Object({ tasks: Type.Array(Task) });

export type VmPost = Static<typeof VmPost>;
export type VmPut = Static<typeof VmPut>;
export type VmPower = Static<typeof VmPower>;
export type SnapshotTarget = Static<typeof SnapshotTarget>;
export type VmMigrate = Static<typeof VmMigrate>;
export type HostTarget = Static<typeof HostTarget>;
export type Target = Static<typeof Target>;
export type WorkspaceTarget = Static<typeof WorkspaceTarget>;
export type NetworkPost = Static<typeof NetworkPost>;
export type NetworkPut = Static<typeof NetworkPut>;
export type InterfacePost = Static<typeof InterfacePost>;
export type SecurityGroupPost = Static<typeof SecurityGroupPost>;
export type SecurityGroupPut = Static<typeof SecurityGroupPut>;
export type InterfaceDelete = Static<typeof InterfaceDelete>;
export type TaskStatus = Static<typeof TaskStatus>;
export type Accepted = Static<typeof Accepted>;
export type VmAccepted = Static<typeof VmAccepted>;
export type Task = Static<typeof Task>;
