// Building blocks of every contract: names, addresses, ids, states, the error body and list paging.
import { Type, type TLiteral, type TSchema, type TUnion } from 'typebox';
import { Name } from '../names.ts';

export { Name };

/** An anti-affinity group of a workspace (issue 18): a name, unique within its workspace only. */
export const AffinityGroupName = Name(
  'anti-affinity group: its VMs run on different hosts while the area has enough',
);

/** One of a list of strings (JSON Schema anyOf of consts), typed as the union of them. */
export function OneOf<const T extends readonly string[]>(values: T, description?: string) {
  // TypeBox types a union built from an array as never: the tuple type says what it is.
  return Type.Union(
    values.map((v) => Type.Literal(v)),
    description ? { description } : {},
  ) as unknown as TUnion<{ -readonly [K in keyof T]: TLiteral<T[K]> }>;
}

/** A value or null (JSON has no undefined: an absent value is null on the wire). */
export const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

// PostgreSQL text cannot hold a NUL byte: refused here (400 naming the field) rather than by the database (500).
export const NO_NUL = '^[^\\u0000]*$';
export const Text = (max: number, description?: string) =>
  Type.String({ maxLength: max, pattern: NO_NUL, description });

// A filesystem path that can be put in XML and command arguments without escaping surprises.
const PATH_PATTERN = '^[A-Za-z0-9_./+@:-]{1,1024}$';
export const FilePath = (description: string) => Type.String({ pattern: PATH_PATTERN, description });

export const Ip = Type.String({ pattern: '^[0-9.]{7,15}$', description: 'IPv4 address' });
export const IpOrCidr = Type.String({
  pattern: '^[0-9.]{7,15}(/[0-9]{1,2})?$',
  description: 'IPv4 address, optionally with /prefix',
});
export const Mac = Type.String({ pattern: '^([0-9a-f]{2}:){5}[0-9a-f]{2}$' });

/** The most bytes of a VM's user_data (#cloud-config) taken (src/lib/cloud-config.ts). */
export const USER_DATA_MAX_BYTES = 16384;

/** The controller task making a record or taking an address (inventory migration 002). */
export const TaskId = Type.String({
  pattern: '^[A-Za-z0-9-]{1,64}$',
  description: 'id of the controller task that makes it',
});

/** VM states (DESIGN "VM lifecycle"): creating disk, configuring network, up, down, error, deleting. */
export const VM_STATES = ['C_D', 'C_N', 'U', 'D', 'E', 'X'] as const;
export const VmState = OneOf(VM_STATES);
/** Network and router states: creating, up, error, deleting. */
export const NET_STATES = ['C', 'U', 'E', 'X'] as const;
export const NetState = OneOf(NET_STATES);

/** What a task works on; `workspace`: a whole workspace torn down (its DELETE); `host`: an operator's drain or
 * restore of a hypervisor host (tasks in the HOST_TASKS workspace). */
export const OBJECT_TYPES = [
  'vm',
  'network',
  'router',
  'interface',
  'workspace',
  'host',
  'security_group',
] as const;
/** The workspace name host tasks are filed under (no room member sees them but admins). */
export const HOST_TASKS = '_hosts';
export const ObjectType = OneOf(OBJECT_TYPES);
/** A task's method: the book's three, POWER (start, stop, reboot, force off a VM), MIGRATE (a VM's live
 * move to another host; admins, POST /vms/migrate/), DRAIN and RESTORE (a host's maintenance), SNAPSHOT (a
 * VM's snapshot taken, reverted to or deleted). */
export const METHODS = ['POST', 'PUT', 'DELETE', 'POWER', 'MIGRATE', 'DRAIN', 'RESTORE', 'SNAPSHOT'] as const;
export const Method = OneOf(METHODS);

/** Every error answer (src/lib/errors.ts). */
export const ErrorBody = Type.Object({
  error: Type.String(),
  field: Type.Optional(Type.String({ description: 'the request field at fault' })),
  quota: Type.Optional(Type.String({ description: 'field "quota": the quota or per-area limit refused' })),
  limit: Type.Optional(Type.Number({ description: 'field "quota": its limit' })),
  used: Type.Optional(Type.Number({ description: 'field "quota": what the workspace uses of it' })),
});

export const ListQuery = Type.Object({
  limit: Type.Optional(
    Type.String({ pattern: '^[0-9]{1,4}$', description: 'at most this many (1-1000, default 100)' }),
  ),
  marker: Type.Optional(Name('the last name of the previous page')),
});

/** The answer of a DELETE of a named object. */
export const Deleted = Type.Object({ name: Type.String(), deleted: Type.Literal(true) });

export type ObjectType = (typeof OBJECT_TYPES)[number];
export type Method = (typeof METHODS)[number];
export type VmState = (typeof VM_STATES)[number];
/** What POST /vms/power/ does: start a stopped VM, stop it (ACPI, then forced after the timeout), reboot it
 * (a stop, then a start), or force it off at once. */
export const POWER_ACTIONS = ['start', 'stop', 'reboot', 'off'] as const;
export const PowerAction = OneOf(POWER_ACTIONS);
export type PowerAction = (typeof POWER_ACTIONS)[number];
/** What a VM's SNAPSHOT task does (POST /snapshots/, POST /snapshots/revert/, DELETE /snapshots/). */
export const SNAPSHOT_ACTIONS = ['create', 'revert', 'delete'] as const;
export const SnapshotAction = OneOf(SNAPSHOT_ACTIONS);
export type SnapshotAction = (typeof SNAPSHOT_ACTIONS)[number];
/** A snapshot's name: a libvirt snapshot name and a file name on the pool, so no leading '-' or '.'. */
export const SnapshotName = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$',
  description: 'snapshot name: 1-64 of A-Z a-z 0-9 _ . -, starting with a letter or digit',
});
/** vCPUs and memory of a VM (a template's, or its own after a resize). */
export const Cpu = Type.Integer({ minimum: 1, maximum: 256, description: 'vCPUs' });
export const Ram = Type.Number({ exclusiveMinimum: 0, maximum: 4096, description: 'GiB (0.125 = 128 MiB)' });
export type NetState = (typeof NET_STATES)[number];
