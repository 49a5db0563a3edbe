// Building blocks of every contract: names, addresses, ids, states, the error body and list paging.
import { Type, type TSchema } from 'typebox';
import { Name } from '../names.ts';

export { Name };

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

/** The controller task making a record or taking an address (inventory migration 002). */
export const TaskId = Type.String({
  pattern: '^[A-Za-z0-9-]{1,64}$',
  description: 'id of the controller task that makes it',
});

/** VM states (DESIGN "VM lifecycle"): creating disk, configuring network, up, down, error, deleting. */
export const VM_STATES = ['C_D', 'C_N', 'U', 'D', 'E', 'X'] as const;
export const VmState = Type.Union(VM_STATES.map((s) => Type.Literal(s)));
/** Network and router states: creating, up, error, deleting. */
export const NET_STATES = ['C', 'U', 'E', 'X'] as const;
export const NetState = Type.Union(NET_STATES.map((s) => Type.Literal(s)));

export const OBJECT_TYPES = ['vm', 'network', 'router', 'interface'] as const;
export const ObjectType = Type.Union(OBJECT_TYPES.map((s) => Type.Literal(s)));
export const METHODS = ['POST', 'PUT', 'DELETE'] as const;
export const Method = Type.Union(METHODS.map((s) => Type.Literal(s)));

/** Every error answer (src/lib/errors.ts). */
export const ErrorBody = Type.Object({
  error: Type.String(),
  field: Type.Optional(Type.String({ description: 'the request field at fault' })),
});

export const ListQuery = Type.Object({
  limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$', description: 'at most this many (1-1000)' })),
  marker: Type.Optional(Name('the last name of the previous page')),
});

/** The answer of a DELETE of a named object. */
export const Deleted = Type.Object({ name: Type.String(), deleted: Type.Literal(true) });

export type ObjectType = (typeof OBJECT_TYPES)[number];
export type Method = (typeof METHODS)[number];
