// The inventory API (DESIGN "Public APIs"): parameters, request bodies and answers. The routes validate
// against these; the controller, compute, network, monitoring, the CLI and the dashboard read the answers
// as these types (src/lib/clients/inventory.ts checks them on arrival).
import { Type, type Static, type TSchema } from 'typebox';
import { PERMISSIONS, type Permission } from '../permissions.ts';
import { GroupNames } from './secgroups.ts';
import {
  AffinityGroupName,
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
/** PUT /password/: the caller changes its own password (its other sessions and tokens end). */
export const PasswordChange = Type.Object({
  current: Type.String({ minLength: 1, maxLength: 256, description: 'the password now' }),
  password: Type.String({ minLength: 8, maxLength: 256, description: 'the new password' }),
});
/** PUT /accounts/<name>/ (admins): disable or enable an account, or set a new password. */
export const AccountUpdate = Type.Object(
  {
    disabled: Type.Optional(
      Type.Boolean({ description: 'true: its tokens stop working and it cannot log in' }),
    ),
    password: Type.Optional(Type.String({ minLength: 8, maxLength: 256, description: 'a new password' })),
  },
  { minProperties: 1 },
);
export const AccountState = Type.Object({
  name: Type.String(),
  email: Type.String(),
  is_admin: Type.Boolean(),
  disabled: Type.Boolean(),
});
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
/** A member as other members see it: its name and flags, never its email (issue 14.6). */
export const Member = Type.Object({
  name: Type.String(),
  owner: Type.Boolean({
    description: 'the workspace owner: holds every permission, removed only by handing over',
  }),
  ...permissionFlags,
});
export const MemberList = Type.Object({ users: Type.Array(Member) });
export const WorkspaceDetail = Type.Object({
  name: Type.String(),
  id: Type.Integer({
    description: 'stays the same across renames; a workspace re-made under a name gets a new one',
  }),
  owner: Nullable(Type.String({ description: 'the owner, who alone (with admins) deletes the workspace' })),
  state: OneOf(['U', 'X'] as const, 'U: in use; X: being deleted (a controller task tears it down)'),
  users: Type.Array(Member),
});
/**
 * POST /<ws>/users/ answers 202 with this whether or not such a user exists: the invitation waits for the
 * user to accept it (GET /invitations/, POST /invitations/<ws>/), and tells the inviter nothing more.
 */
export const Invited = Type.Object({ name: Type.String(), invited: Type.Literal(true) });
const invitedBy = Nullable(Type.String({ description: 'who invited' }));
/** A pending invitation, as the workspace's members (user_can_add) see it. */
export const WorkspaceInvitation = Type.Object({
  name: Type.String({ description: 'the name the inviter gave' }),
  invited_by: invitedBy,
  created_at: Type.String({ format: 'date-time' }),
  ...permissionFlags,
});
export const WorkspaceInvitationList = Type.Object({ invitations: Type.Array(WorkspaceInvitation) });
/** An invitation as its invitee sees it (GET /invitations/). */
export const MyInvitation = Type.Object({
  workspace: Type.String(),
  invited_by: invitedBy,
  created_at: Type.String({ format: 'date-time' }),
  ...permissionFlags,
});
export const MyInvitationList = Type.Object({ invitations: Type.Array(MyInvitation) });
/** POST /invitations/<ws>/: the invitee is a member now, with the flags it was invited with. */
export const Joined = Type.Object({ workspace: Type.String(), ...permissionFlags });
export const Declined = Type.Object({ workspace: Type.String(), declined: Type.Literal(true) });

/**
 * PUT /workspaces/<ws>/: rename, or hand ownership over to another member (the owner, or an admin); `state`
 * is the controller's (a workspace being deleted is `X`).
 */
export const WorkspaceUpdate = Type.Object(
  {
    name: Type.Optional(Name('new workspace name')),
    owner: Type.Optional(Name('member who becomes the owner')),
    state: Type.Optional(OneOf(['U', 'X'] as const)),
  },
  { minProperties: 1 },
);

// ---- what a user may do now (issue 14.5): services read it instead of trusting token claims ----
export const StandingWorkspace = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  owner: Type.Boolean(),
  ...permissionFlags,
});
/** GET /auth/standing/<uid>/ (services): a user's current account state and memberships. */
export const Standing = Type.Object({
  uid: Type.Integer(),
  username: Type.String(),
  /** Tokens carry the version they were signed at; a revocation (logout, disable, password) raises it. */
  version: Type.Integer(),
  disabled: Type.Boolean(),
  admin: Type.Boolean(),
  workspaces: Type.Array(StandingWorkspace),
});
export const UidParams = Type.Object({ uid: Type.String({ pattern: '^[0-9]{1,9}$' }) });
export const AUTH_CHANGE_KINDS = ['user', 'revoke', 'keys'] as const;
/**
 * One change of who may do what: `user` (a user's memberships or flags changed), `revoke` (a user's tokens
 * were revoked: logout, disable, password), `keys` (the signing key changed).
 */
export const AuthChange = Type.Object({
  seq: Type.Integer(),
  kind: OneOf(AUTH_CHANGE_KINDS),
  uid: Nullable(Type.Integer()),
});
/** GET /auth/changes/?after=<seq> (services): changes after `seq`, oldest first. */
export const AuthChanges = Type.Object({
  /** The last change's seq (0: none yet). */
  latest: Type.Integer(),
  /** The oldest seq still kept: a reader that asks after an older one has missed some. */
  oldest: Type.Integer(),
  changes: Type.Array(AuthChange),
});
export const ChangesQuery = Type.Object({
  after: Type.Optional(Type.String({ pattern: '^[0-9]{1,10}$', description: 'only changes after this seq' })),
});
/** GET /account/: the caller's own account and workspaces. */
export const Account = Type.Object({
  username: Type.String(),
  email: Type.String(),
  admin: Type.Boolean(),
  workspaces: Type.Array(StandingWorkspace),
});

// ---- the caller's SSH public keys (GET|POST /keys/, DELETE /keys/<name>/) ----
export const SshKeyBody = Type.Object({
  name: Name('key name'),
  public_key: Type.String({
    minLength: 1,
    maxLength: 16384,
    description: 'an OpenSSH public key line: <type> <base64> [comment] (the contents of ~/.ssh/id_*.pub)',
  }),
});
export const SshKey = Type.Object({
  name: Type.String(),
  public_key: Type.String({ description: 'canonical form: <type> <base64>[ <comment>]' }),
  type: Type.String({ description: 'ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256, ...' }),
  bits: Type.Integer(),
  fingerprint: Type.String({ description: 'SHA256:<base64>, as ssh-keygen -l prints it' }),
  comment: Type.String(),
});
export const SshKeyList = Type.Object({ keys: Type.Array(SshKey) });
export const KeysQuery = Type.Object({
  user: Type.Optional(Name("user name: services and admins read any user's keys, a user only their own")),
});
/** At most this many keys per user (a list is answered whole). */
export const MAX_KEYS_PER_USER = 100;

// ---- quotas (fair shares): per workspace, defaults in the configuration, changed by admins ----
const count = (what: string) => Type.Integer({ minimum: 0, maximum: 100000000, description: what });
const gib = (what: string) => Type.Number({ minimum: 0, maximum: 1000000000, description: `${what} (GiB)` });
const QUOTA_DOCS = {
  vms: count('VMs'),
  vcpus: count("vCPUs of the workspace's VMs, summed"),
  ram: gib("memory of the workspace's VMs, summed"),
  disk: gib("disk of the workspace's VMs, summed"),
  networks: count('networks'),
  routers: count('routers'),
  snapshots: count('snapshots'),
};
/** One figure per quota: limits, or what is used. */
export const QuotaFigures = Type.Object(QUOTA_DOCS);
/** PUT /workspaces/<ws>/quotas/: the limits to change; null puts one back to the configured default. */
const orNull = <T extends TSchema>(t: T) => Type.Optional(Nullable(t));
export const QuotaBody = Type.Object(
  {
    vms: orNull(QUOTA_DOCS.vms),
    vcpus: orNull(QUOTA_DOCS.vcpus),
    ram: orNull(QUOTA_DOCS.ram),
    disk: orNull(QUOTA_DOCS.disk),
    networks: orNull(QUOTA_DOCS.networks),
    routers: orNull(QUOTA_DOCS.routers),
    snapshots: orNull(QUOTA_DOCS.snapshots),
  },
  // Closed: each key becomes a column of the quotas table.
  { minProperties: 1, additionalProperties: false },
);
const LimitUse = Type.Object({ limit: Type.Number(), used: Type.Number() });
export const WorkspaceQuotas = Type.Object({
  workspace: Type.String(),
  limits: QuotaFigures,
  used: QuotaFigures,
  /** Which limits are the workspace's own (set by an admin) rather than the configured defaults. */
  custom: Type.Array(Type.String()),
  /** Per-area ceilings (configuration only): VLANs (networks) and public addresses (VMs) in each area. */
  areas: Type.Array(Type.Object({ area: Type.String(), vlans: LimitUse, public_ips: LimitUse })),
});

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
  libvirt_uri: Type.String({
    pattern: '^[A-Za-z0-9+]+://[A-Za-z0-9_.@:/?&=%~+,\\[\\]-]*$',
    maxLength: 1024,
    description:
      'qemu+ssh or qemu+libssh, with keyfile, known_hosts, known_hosts_verify=normal, sshauth (libssh) or keyfile, no_tty (ssh)',
  }),
  area: Name('area'),
  cpus: Type.Integer({ minimum: 1, maximum: 4096 }),
  memory: Type.Number({ exclusiveMinimum: 0, maximum: 65536, description: 'GiB' }),
  domain_type: Type.Optional(OneOf(DOMAIN_TYPES)),
  maintenance: Type.Optional(
    Type.Boolean({
      description: 'unschedulable (set by the controller: POST /hosts/drain/ and /hosts/restore/)',
    }),
  ),
});
export const Host = Type.Object({
  name: Type.String(),
  address: Type.String(),
  libvirt_uri: Type.String(),
  cpus: Type.Integer(),
  memory: Type.Number({ description: 'GiB' }),
  domain_type: Type.String({ description: 'kvm or qemu' }),
  // Optional in the type only (inventory always shows it): catalogues of older inventories lack it.
  maintenance: Type.Optional(
    Type.Boolean({ description: 'drained or being drained: no new VMs, no failover onto it' }),
  ),
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
  /** Its anti-affinity group of the workspace (issue 18); none when absent or null. */
  affinity_group: Type.Optional(Nullable(AffinityGroupName)),
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
  affinity_group: Type.Optional(Nullable(AffinityGroupName)),
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
  /** Its anti-affinity group (issue 18): the group's VMs run on different hosts while the area has enough. */
  affinity_group: Nullable(Type.String()),
});
export const VmList = Type.Object({ vms: Type.Array(Vm) });
/** GET /hosts/<name>/vms/ (operators): a VM placed on the host, with its workspace. */
export const PlacedVm = Type.Object({ ...Vm.properties, workspace: Type.String() });
export type PlacedVm = Static<typeof PlacedVm>;
export const PlacedVmList = Type.Object({ vms: Type.Array(PlacedVm) });

/** GET /<ws>/affinity_groups/: the workspace's anti-affinity groups, each with its VMs and their hosts. A group
 * exists while a VM names it; `spread` says whether its VMs run on different hosts now. */
export const AffinityGroup = Type.Object({
  name: Type.String(),
  policy: Type.Literal('anti_affinity'),
  vms: Type.Array(Type.Object({ name: Type.String(), host: Nullable(Type.String()) })),
  spread: Type.Boolean({ description: 'no two of its VMs share a host' }),
});
export const AffinityGroupList = Type.Object({ affinity_groups: Type.Array(AffinityGroup) });

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

export type PasswordChange = Static<typeof PasswordChange>;
export type AccountUpdate = Static<typeof AccountUpdate>;
export type AccountState = Static<typeof AccountState>;
export type SignupT = Static<typeof Signup>;
export type Member = Static<typeof Member>;
export type WorkspaceDetail = Static<typeof WorkspaceDetail>;
export type WorkspaceUpdate = Static<typeof WorkspaceUpdate>;
export type WorkspaceInvitation = Static<typeof WorkspaceInvitation>;
export type MyInvitation = Static<typeof MyInvitation>;
export type Standing = Static<typeof Standing>;
export type StandingWorkspace = Static<typeof StandingWorkspace>;
export type AuthChange = Static<typeof AuthChange>;
export type AuthChanges = Static<typeof AuthChanges>;
export type Account = Static<typeof Account>;
export type Template = Static<typeof Template>;
export type TemplateBody = Static<typeof TemplateBody>;
export type Area = Static<typeof Area>;
export type AreaBody = Static<typeof AreaBody>;
export type Host = Static<typeof Host>;
export type HostBody = Static<typeof HostBody>;
export type Pool = Static<typeof Pool>;
export type PoolBody = Static<typeof PoolBody>;
export type Vm = Static<typeof Vm>;
export type AffinityGroup = Static<typeof AffinityGroup>;
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
export type SshKey = Static<typeof SshKey>;
export type SshKeyBody = Static<typeof SshKeyBody>;
export type QuotaFigures = Static<typeof QuotaFigures>;
export type QuotaBody = Static<typeof QuotaBody>;
export type WorkspaceQuotas = Static<typeof WorkspaceQuotas>;
