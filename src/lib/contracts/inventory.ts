// The inventory API (DESIGN "Public APIs"): parameters, request bodies and answers. The routes validate
// against these; the controller, compute, network, monitoring, the CLI and the dashboard read the answers
// as these types (src/lib/clients/inventory.ts checks them on arrival).
import { Type, type Static } from 'typebox';
import { PERMISSIONS, type Permission } from '../permissions.ts';
import { GroupNames } from './secgroups.ts';
import {
  Cpu,
  Deleted,
  FilePath,
  Ip,
  IpOrCidr,
  Mac,
  Name,
  NetState,
  Nullable,
  OneOf,
  Ram,
  TaskId,
  Text,
  VmState,
} from './common.ts';

// ---- parameters ----
export const WsParams = Type.Object({ ws: Name('workspace') });
export const WsNameParams = Type.Object({ ws: Name('workspace'), name: Name() });
export const NameParams = Type.Object({ name: Name() });
export const RouterNetParams = Type.Object({
  ws: Name('workspace'),
  name: Name('router'),
  net: Name('network'),
});
export const AreaParams = Type.Object({ area: Name() });
export const TaskLeaseParams = Type.Object({
  area: Name(),
  task: Type.String({ pattern: '^[A-Za-z0-9-]{1,64}$' }),
});
export const ReleaseParams = Type.Object({ area: Name(), ip: Type.String({ maxLength: 15 }) });
export const TaskQuery = Type.Object({ task: Type.Optional(TaskId) });

// ---- identity ----
export const Signup = Type.Object({
  username: Name('user name'),
  password: Type.String({ minLength: 8, maxLength: 256 }),
  email: Type.String({ format: 'email', maxLength: 254 }),
});
export const SignedUp = Type.Object({ username: Type.String(), email: Type.String() });
export const Login = Type.Object({
  username: Type.String({ minLength: 1, maxLength: 64, pattern: '^[^\\u0000]*$' }),
  password: Type.String({ minLength: 1, maxLength: 256 }),
});
export const ServiceTokenRequest = Type.Object({
  service: Type.String({ maxLength: 32 }),
  secret: Type.String({ minLength: 1, maxLength: 256 }),
});
export const TokenAnswer = Type.Object({ token: Type.String() });
export const LoggedOut = Type.Object({ status: Type.Literal('logged out') });
export const Jwks = Type.Object({ keys: Type.Array(Type.Object({}, { additionalProperties: true })) });

// ---- workspaces and members ----
export const WorkspaceBody = Type.Object({ name: Name('workspace name') });
export const Workspace = Type.Object({ name: Type.String() });
export const WorkspaceList = Type.Object({ workspaces: Type.Array(Workspace) });

const flag = Type.Boolean();
const optionalFlag = Type.Optional(Type.Boolean());
const permissionFlags = Object.fromEntries(PERMISSIONS.map((p) => [p, flag])) as Record<
  Permission,
  typeof flag
>;
const optionalFlags = Object.fromEntries(PERMISSIONS.map((p) => [p, optionalFlag])) as Record<
  Permission,
  typeof optionalFlag
>;
export const MemberBody = Type.Object({ name: Name('user name'), ...optionalFlags });
export const MemberUpdate = Type.Object({ ...optionalFlags });
export const Member = Type.Object({ name: Type.String(), email: Type.String(), ...permissionFlags });
export const MemberList = Type.Object({ users: Type.Array(Member) });
export const WorkspaceDetail = Type.Object({ name: Type.String(), users: Type.Array(Member) });

// ---- the operators' catalogue ----
export const TemplateBody = Type.Object({
  name: Name(),
  description: Type.Optional(Text(1024)),
  os: Type.Optional(Text(64)),
  cpu: Type.Integer({ minimum: 1, maximum: 256 }),
  ram: Type.Number({ exclusiveMinimum: 0, maximum: 4096, description: 'GiB (0.125 = 128 MiB)' }),
  disk: Type.Number({ exclusiveMinimum: 0, maximum: 65536, description: 'GiB' }),
  image: Type.Optional(
    FilePath('base disk (qcow2 or raw): absolute, or relative to the pool; default <name>.qcow2'),
  ),
  kernel: Type.Optional(FilePath('kernel for direct boot')),
  initrd: Type.Optional(FilePath('initrd for direct boot')),
  cmdline: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_./=:,+ -]{0,512}$' })),
});
export const Template = Type.Object({
  name: Type.String(),
  description: Type.String(),
  os: Type.String(),
  cpu: Type.Integer(),
  ram: Type.Number({ description: 'GiB' }),
  disk: Type.Number({ description: 'GiB' }),
  image: Type.String(),
  kernel: Nullable(Type.String()),
  initrd: Nullable(Type.String()),
  cmdline: Nullable(Type.String()),
});
export const TemplateList = Type.Object({ templates: Type.Array(Template) });

export const AreaBody = Type.Object({
  name: Name(),
  subnet: Type.String({ maxLength: 18, description: 'IPv4 CIDR, prefix 16-30' }),
  gateway: Type.Optional(Type.String({ maxLength: 15, description: 'default: the first address' })),
  next_ip: Type.Optional(Type.String({ maxLength: 15 })),
});
export const Area = Type.Object({
  name: Type.String(),
  subnet: Type.String(),
  gateway: Type.String(),
  next_ip: Type.String(),
});
export const AreaList = Type.Object({ areas: Type.Array(Area) });

export const DOMAIN_TYPES = ['kvm', 'qemu'] as const;
export const HostBody = Type.Object({
  name: Name(),
  address: Type.String({ pattern: '^[A-Za-z0-9.:-]{1,253}$', description: 'management address' }),
  libvirt_uri: Type.String({ pattern: '^[A-Za-z0-9+]+://[A-Za-z0-9_.@:/?&=%~+-]*$', maxLength: 1024 }),
  area: Name('area'),
  cpus: Type.Integer({ minimum: 1, maximum: 4096 }),
  memory: Type.Number({ exclusiveMinimum: 0, maximum: 65536, description: 'GiB' }),
  domain_type: Type.Optional(OneOf(DOMAIN_TYPES)),
});
export const Host = Type.Object({
  name: Type.String(),
  address: Type.String(),
  libvirt_uri: Type.String(),
  cpus: Type.Integer(),
  memory: Type.Number({ description: 'GiB' }),
  domain_type: Type.String({ description: 'kvm or qemu' }),
  area: Type.String(),
});
export const HostList = Type.Object({ hosts: Type.Array(Host) });

export const PoolBody = Type.Object({
  name: Name(),
  path: Type.String({
    pattern: '^/[A-Za-z0-9_./-]{0,1023}$',
    description: 'mounted at this path on every host of the area',
  }),
  area: Name('area'),
  size: Type.Number({ exclusiveMinimum: 0, description: 'GiB' }),
});
export const Pool = Type.Object({
  name: Type.String(),
  path: Type.String(),
  size: Type.Number({ description: 'GiB' }),
  area: Type.String(),
});
export const PoolList = Type.Object({ pools: Type.Array(Pool) });

/** GET /address/<area>/get_ip/ */
export const IpAnswer = Type.Object({ ip: Type.String() });
/** DELETE /address/<area>/task/<task>/: how many addresses went back. */
export const ReleasedCount = Type.Object({ released: Type.Integer() });
/** DELETE /address/<area>/<ip>/ */
export const ReleasedOne = Type.Object({ released: Type.Boolean() });

// ---- workspace objects ----
export const VmBody = Type.Object({
  name: Name(),
  description: Type.Optional(Text(1024)),
  ip: Type.Optional(Ip),
  state: Type.Optional(VmState),
  area: Name('area'),
  template: Name('template'),
  /** The template's when not given. */
  cpu: Type.Optional(Cpu),
  ram: Type.Optional(Ram),
  networks: Type.Optional(Type.Array(Name('network'), { maxItems: 16, uniqueItems: true })),
  host: Type.Optional(Type.Union([Name('host'), Type.Null()])),
  task: Type.Optional(TaskId),
  /** The security groups its NICs belong to (issue 17); none when absent. */
  security_groups: Type.Optional(GroupNames),
});
export const VmInterface = Type.Object({
  network: Name('network'),
  ip: Type.Optional(Type.Union([IpOrCidr, Type.Null()])),
  mac: Type.Optional(Mac),
});
export const VmUpdate = Type.Object({
  name: Type.Optional(Name()),
  description: Type.Optional(Text(1024)),
  state: Type.Optional(VmState),
  host: Type.Optional(Type.Union([Name('host'), Type.Null()])),
  cpu: Type.Optional(Cpu),
  ram: Type.Optional(Ram),
  networks: Type.Optional(Type.Array(Name('network'), { maxItems: 16, uniqueItems: true })),
  interfaces: Type.Optional(Type.Array(VmInterface, { maxItems: 16 })),
  security_groups: Type.Optional(GroupNames),
});
/** A VM's NIC on one of its networks: the address inventory gave it, and the MAC compute reported. */
export const Nic = Type.Object({
  network: Type.String(),
  ip: Nullable(Type.String({ description: 'address/prefix on the network subnet' })),
  mac: Nullable(Type.String()),
});
export const Vm = Type.Object({
  name: Type.String(),
  description: Type.String(),
  ip: Nullable(Type.String()),
  state: VmState,
  host: Nullable(Type.String()),
  area: Type.String(),
  template: Type.String(),
  cpu: Type.Integer({ description: 'vCPUs' }),
  ram: Type.Number({ description: 'GiB' }),
  networks: Type.Array(Type.String()),
  interfaces: Type.Array(Nic),
  security_groups: Type.Array(Type.String()),
});
export const VmList = Type.Object({ vms: Type.Array(Vm) });

const networkFields = {
  name: Name(),
  description: Type.Optional(Text(1024)),
  state: Type.Optional(NetState),
  vlan: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 4094 }), Type.Null()])),
  subnet: Type.Optional(Type.Union([Type.String({ maxLength: 18 }), Type.Null()])),
};
export const NetworkBody = Type.Object({ ...networkFields, task: Type.Optional(TaskId) });
export const NetworkUpdate = Type.Partial(Type.Object(networkFields));
export const Network = Type.Object({
  name: Type.String(),
  description: Type.String(),
  state: NetState,
  vlan: Nullable(Type.Integer()),
  subnet: Nullable(Type.String()),
});
export const NetworkList = Type.Object({ networks: Type.Array(Network) });

const routerFields = {
  name: Name(),
  state: Type.Optional(NetState),
  host: Type.Optional(Type.Union([Name('host'), Type.Null()])),
};
export const RouterBody = Type.Object({ ...routerFields, task: Type.Optional(TaskId) });
export const RouterUpdate = Type.Partial(Type.Object(routerFields));
export const Router = Type.Object({
  name: Type.String(),
  state: NetState,
  host: Nullable(Type.String()),
});
export const RouterList = Type.Object({ routers: Type.Array(Router) });

export const InterfaceBody = Type.Object({ network: Name('network'), ip: Ip });
export const RouterInterface = Type.Object({
  network: Type.String(),
  ip: Type.String(),
  vlan: Nullable(Type.Integer()),
  subnet: Nullable(Type.String()),
});
export const RouterInterfaceList = Type.Object({ interfaces: Type.Array(RouterInterface) });
export const InterfaceDeleted = Type.Object({ network: Type.String(), deleted: Type.Literal(true) });

export { Deleted };

export type SignupT = Static<typeof Signup>;
export type Member = Static<typeof Member>;
export type WorkspaceDetail = Static<typeof WorkspaceDetail>;
export type Template = Static<typeof Template>;
export type TemplateBody = Static<typeof TemplateBody>;
export type Area = Static<typeof Area>;
export type AreaBody = Static<typeof AreaBody>;
export type Host = Static<typeof Host>;
export type HostBody = Static<typeof HostBody>;
export type Pool = Static<typeof Pool>;
export type PoolBody = Static<typeof PoolBody>;
export type Vm = Static<typeof Vm>;
export type VmBody = Static<typeof VmBody>;
export type VmUpdate = Static<typeof VmUpdate>;
export type Nic = Static<typeof Nic>;
export type Network = Static<typeof Network>;
export type NetworkBody = Static<typeof NetworkBody>;
export type NetworkUpdate = Static<typeof NetworkUpdate>;
export type Router = Static<typeof Router>;
export type RouterBody = Static<typeof RouterBody>;
export type RouterUpdate = Static<typeof RouterUpdate>;
export type RouterInterface = Static<typeof RouterInterface>;
export type InterfaceBody = Static<typeof InterfaceBody>;
export type TokenAnswer = Static<typeof TokenAnswer>;
export type SignedUp = Static<typeof SignedUp>;
export type Workspace = Static<typeof Workspace>;
