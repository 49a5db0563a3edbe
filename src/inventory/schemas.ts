// Request bodies and parameters of the inventory API (validated by fastify; also the OpenAPI document).
import { Type, type Static } from 'typebox';
import { PERMISSIONS } from '../lib/auth.ts';
import { Name } from '../lib/names.ts';

// PostgreSQL text cannot hold a NUL byte: refused here (400 naming the field) rather than by the database (500).
const NO_NUL = '^[^\\u0000]*$';
const Text = (max: number, description?: string) =>
  Type.String({ maxLength: max, pattern: NO_NUL, description });
// A filesystem path that can be put in XML and command arguments without escaping surprises.
const PATH_PATTERN = '^[A-Za-z0-9_./+@:-]{1,1024}$';
const Path = (description: string) => Type.String({ pattern: PATH_PATTERN, description });

export const WsParams = Type.Object({ ws: Name('workspace') });
export const WsNameParams = Type.Object({ ws: Name('workspace'), name: Name() });
export const NameParams = Type.Object({ name: Name() });
export const RouterNetParams = Type.Object({
  ws: Name('workspace'),
  name: Name('router'),
  net: Name('network'),
});
export const ListQuery = Type.Object({
  limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$', description: 'at most this many (1-1000)' })),
  marker: Type.Optional(Name('the last name of the previous page')),
});
export type ListQueryT = Static<typeof ListQuery>;

export const Signup = Type.Object({
  username: Name('user name'),
  password: Type.String({ minLength: 8, maxLength: 256 }),
  email: Type.String({ format: 'email', maxLength: 254 }),
});
export const Login = Type.Object({
  username: Type.String({ minLength: 1, maxLength: 64, pattern: NO_NUL }),
  password: Type.String({ minLength: 1, maxLength: 256 }),
});
export const ServiceTokenRequest = Type.Object({
  service: Type.String({ maxLength: 32 }),
  secret: Type.String({ minLength: 1, maxLength: 256 }),
});

export const WorkspaceBody = Type.Object({ name: Name('workspace name') });

const permissionProps = Object.fromEntries(PERMISSIONS.map((p) => [p, Type.Optional(Type.Boolean())]));
export const MemberBody = Type.Object({ name: Name('user name'), ...permissionProps });
export const MemberUpdate = Type.Object({ ...permissionProps });

export const TemplateBody = Type.Object({
  name: Name(),
  description: Type.Optional(Text(1024)),
  os: Type.Optional(Text(64)),
  cpu: Type.Integer({ minimum: 1, maximum: 256 }),
  ram: Type.Number({ exclusiveMinimum: 0, maximum: 4096, description: 'GiB (0.125 = 128 MiB)' }),
  disk: Type.Number({ exclusiveMinimum: 0, maximum: 65536, description: 'GiB' }),
  image: Type.Optional(
    Path('base disk (qcow2 or raw): absolute, or relative to the pool; default <name>.qcow2'),
  ),
  kernel: Type.Optional(Path('kernel for direct boot')),
  initrd: Type.Optional(Path('initrd for direct boot')),
  cmdline: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_./=:,+ -]{0,512}$' })),
});

export const AreaBody = Type.Object({
  name: Name(),
  subnet: Type.String({ maxLength: 18, description: 'IPv4 CIDR, prefix 16-30' }),
  gateway: Type.Optional(Type.String({ maxLength: 15, description: 'default: the first address' })),
  next_ip: Type.Optional(Type.String({ maxLength: 15 })),
});

export const HostBody = Type.Object({
  name: Name(),
  address: Type.String({ pattern: '^[A-Za-z0-9.:-]{1,253}$', description: 'management address' }),
  libvirt_uri: Type.String({ pattern: '^[A-Za-z0-9+]+://[A-Za-z0-9_.@:/?&=%~+-]*$', maxLength: 1024 }),
  area: Name('area'),
  cpus: Type.Integer({ minimum: 1, maximum: 4096 }),
  memory: Type.Number({ exclusiveMinimum: 0, maximum: 65536, description: 'GiB' }),
  domain_type: Type.Optional(Type.Union([Type.Literal('kvm'), Type.Literal('qemu')])),
});

export const PoolBody = Type.Object({
  name: Name(),
  path: Type.String({
    pattern: '^/[A-Za-z0-9_./-]{0,1023}$',
    description: 'mounted at this path on every host of the area',
  }),
  area: Name('area'),
  size: Type.Number({ exclusiveMinimum: 0, description: 'GiB' }),
});

const Ip = Type.String({ pattern: '^[0-9.]{7,15}$', description: 'IPv4 address' });
/** The controller task creating a record or taking an address (see migration 002). */
const TaskId = Type.String({
  pattern: '^[A-Za-z0-9-]{1,64}$',
  description: 'id of the controller task that makes it',
});
export const TaskQuery = Type.Object({ task: Type.Optional(TaskId) });
const Mac = Type.String({ pattern: '^([0-9a-f]{2}:){5}[0-9a-f]{2}$' });
const VmState = Type.Union(['C_D', 'C_N', 'U', 'D', 'E', 'X'].map((s) => Type.Literal(s)));

export const VmBody = Type.Object({
  name: Name(),
  description: Type.Optional(Text(1024)),
  ip: Type.Optional(Ip),
  state: Type.Optional(VmState),
  area: Name('area'),
  template: Name('template'),
  networks: Type.Optional(Type.Array(Name('network'), { maxItems: 16, uniqueItems: true })),
  host: Type.Optional(Type.Union([Name('host'), Type.Null()])),
  task: Type.Optional(TaskId),
});
const IpOrCidr = Type.String({
  pattern: '^[0-9.]{7,15}(/[0-9]{1,2})?$',
  description: 'IPv4 address, optionally with /prefix',
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
  networks: Type.Optional(Type.Array(Name('network'), { maxItems: 16, uniqueItems: true })),
  interfaces: Type.Optional(Type.Array(VmInterface, { maxItems: 16 })),
});

const NetState = Type.Union(['C', 'U', 'E', 'X'].map((s) => Type.Literal(s)));
const networkFields = {
  name: Name(),
  description: Type.Optional(Text(1024)),
  state: Type.Optional(NetState),
  vlan: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 4094 }), Type.Null()])),
  subnet: Type.Optional(Type.Union([Type.String({ maxLength: 18 }), Type.Null()])),
};
export const NetworkBody = Type.Object({ ...networkFields, task: Type.Optional(TaskId) });
export const NetworkUpdate = Type.Partial(Type.Object(networkFields));

const routerFields = {
  name: Name(),
  state: Type.Optional(NetState),
  host: Type.Optional(Type.Union([Name('host'), Type.Null()])),
};
export const RouterBody = Type.Object({ ...routerFields, task: Type.Optional(TaskId) });
export const RouterUpdate = Type.Partial(Type.Object(routerFields));
export const InterfaceBody = Type.Object({ network: Name('network'), ip: Ip });
