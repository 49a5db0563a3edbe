// Configuration: KLOUDAK_* environment variables over an optional JSON file (KLOUDAK_CONFIG), parsed once at
// start. Every bad value is collected, so one failed start lists every offender.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

type Kind = 'string' | 'int' | 'number' | 'bool' | 'url' | 'secret' | 'ranges' | 'enum';
interface Spec<K extends Kind = Kind> {
  kind: K;
  default?: string;
  min?: number;
  max?: number;
  protocols?: string[];
  /** The words an 'enum' takes. */
  values?: readonly string[];
  doc: string;
}

const spec = {
  DATA_DIR: { kind: 'string', default: './data', doc: 'where embedded databases, keys and lab state live' },
  LOG_LEVEL: { kind: 'string', default: 'info', doc: 'pino level: fatal error warn info debug trace silent' },
  BIND: { kind: 'string', default: '0.0.0.0', doc: 'address the HTTP and websocket services listen on' },
  INVENTORY_PORT: { kind: 'int', default: '5000', min: 0, max: 65535, doc: 'inventory and dashboard port' },
  CONTROLLER_PORT: { kind: 'int', default: '8000', min: 0, max: 65535, doc: 'controller port' },
  NOTIFICATION_PORT: { kind: 'int', default: '3000', min: 0, max: 65535, doc: 'notification websocket port' },
  INVENTORY_URL: {
    kind: 'url',
    default: 'http://127.0.0.1:5000',
    protocols: ['http:', 'https:'],
    doc: 'how services reach inventory (unset: 127.0.0.1 at KLOUDAK_INVENTORY_PORT)',
  },
  NOTIFICATION_URL: {
    kind: 'url',
    default: 'ws://127.0.0.1:3000',
    protocols: ['ws:', 'wss:'],
    doc: 'how services reach notification (unset: 127.0.0.1 at KLOUDAK_NOTIFICATION_PORT)',
  },
  CONTROLLER_URL: {
    kind: 'url',
    default: 'http://127.0.0.1:8000',
    protocols: ['http:', 'https:'],
    doc: "where inventory forwards the dashboard's /api/controller/ calls (unset: 127.0.0.1 at KLOUDAK_CONTROLLER_PORT)",
  },
  STATS_URL: {
    kind: 'url',
    default: 'http://127.0.0.1:8100',
    protocols: ['http:', 'https:'],
    doc: "monitoring's stats API, where inventory forwards the dashboard's /api/stats/ calls (unset: 127.0.0.1 at KLOUDAK_STATS_PORT)",
  },
  COMPUTE_URL: {
    kind: 'url',
    default: 'http://127.0.0.1:8200',
    protocols: ['http:', 'https:'],
    doc: "compute's console bridge, where the controller relays consoles (unset: 127.0.0.1 at KLOUDAK_COMPUTE_PORT)",
  },
  INVENTORY_DB: {
    kind: 'url',
    protocols: ['postgres:', 'postgresql:'],
    doc: 'PostgreSQL URL; PGlite under the data dir when unset',
  },
  CONTROLLER_DB: {
    kind: 'url',
    protocols: ['postgres:', 'postgresql:'],
    doc: 'PostgreSQL URL for the controller',
  },
  COMPUTE_DB: { kind: 'url', protocols: ['postgres:', 'postgresql:'], doc: 'PostgreSQL URL for compute' },
  NETWORK_DB: { kind: 'url', protocols: ['postgres:', 'postgresql:'], doc: 'PostgreSQL URL for network' },
  MONITOR_DB: { kind: 'url', protocols: ['postgres:', 'postgresql:'], doc: 'PostgreSQL URL for monitoring' },
  PGLITE_TEMPLATE: {
    kind: 'string',
    doc: "an empty, initialized PGlite database directory (`createPgliteTemplate` in src/lib/db.ts makes one): a service's new embedded database is copied from it instead of running initdb, which takes seconds; the test suite sets it",
  },
  BUS: { kind: 'url', protocols: ['amqp:', 'amqps:'], doc: 'RabbitMQ URL; the in-process bus when unset' },
  REDIS: {
    kind: 'url',
    protocols: ['redis:', 'rediss:'],
    doc: 'Redis URL for notification fan-out between instances',
  },
  ZOOKEEPER: { kind: 'string', doc: 'ZooKeeper connection string host:port[,host:port]' },
  ADMIN_USER: { kind: 'string', default: 'admin', doc: 'the first admin account, created at first start' },
  ADMIN_PASSWORD: {
    kind: 'secret',
    min: 8,
    doc: 'its password (8+ characters); generated and printed once when unset',
  },
  SERVICE_SECRET: {
    kind: 'secret',
    doc: "secret services get their tokens with (16+ characters, no placeholder: a service refuses to start with one); each service's rights are fixed (src/lib/rights.ts); generated in the data dir when unset",
  },
  TASK_KEY: {
    kind: 'secret',
    doc: "key sealing guests' root passwords and first-boot commands in the controller's unfinished tasks (every controller on one database needs the same: one with another refuses to start); generated in the data dir when unset",
  },
  SERVICE_KEY: {
    kind: 'secret',
    doc: "this service's own key (`kloudak service-key <service>`), for a machine that should not hold SERVICE_SECRET; derived from SERVICE_SECRET when unset",
  },
  JWT_KEY_FILE: {
    kind: 'string',
    doc: 'PEM file of the token signing key (Ed25519); generated in the data dir when unset',
  },
  TOKEN_TTL: { kind: 'int', default: '3600', min: 30, max: 604800, doc: 'token lifetime in seconds' },
  AUTH_POLL_INTERVAL: {
    kind: 'number',
    default: '1',
    min: 0.1,
    max: 60,
    doc: "seconds between reads of inventory's authorization change feed: a removed member, a changed flag, a logout or a disabled account stops working on every service within about this long",
  },
  MAX_MEMBERSHIPS: {
    kind: 'int',
    default: '100',
    min: 1,
    max: 10000,
    doc: 'workspaces one user may belong to (accepting an invitation or creating a workspace beyond it is refused)',
  },
  MAX_INVITATIONS: {
    kind: 'int',
    default: '100',
    min: 1,
    max: 10000,
    doc: 'invitations one workspace may have pending',
  },
  SESSION_TTL: {
    kind: 'int',
    default: '86400',
    min: 60,
    max: 2592000,
    doc: 'browser session lifetime in seconds',
  },
  LOGIN_MAX_FAILURES_PER_USER: {
    kind: 'int',
    default: '5',
    min: 1,
    max: 1000,
    doc: 'failed logins of one user from one client address that come at once; each one after waits longer',
  },
  LOGIN_MAX_FAILURES_PER_ADDRESS: {
    kind: 'int',
    default: '20',
    min: 1,
    max: 100000,
    doc: 'failed logins from one client address (any user) that come at once; each one after waits longer',
  },
  LOGIN_DELAY: {
    kind: 'int',
    default: '30',
    min: 1,
    max: 86400,
    doc: 'seconds the first throttled attempt waits; each one after waits twice as long, up to LOGIN_WINDOW',
  },
  LOGIN_WINDOW: {
    kind: 'int',
    default: '900',
    min: 1,
    max: 86400,
    doc: 'seconds of quiet after which failed logins (and signups) are forgotten; also the longest wait',
  },
  SIGNUP_MAX_PER_ADDRESS: {
    kind: 'int',
    default: '10',
    min: 1,
    max: 1000000,
    doc: 'signups from one client address that come at once (each hashes a password); each one after waits longer',
  },
  SSH_USER: { kind: 'string', default: 'root', doc: 'user compute and network log in as on hosts' },
  SSH_KEY: { kind: 'string', doc: 'private key for hosts; ssh defaults when unset' },
  SSH_KNOWN_HOSTS: { kind: 'string', doc: 'known_hosts file host keys are checked against (never skipped)' },
  PUBLIC_BRIDGE: { kind: 'string', default: 'public-br', doc: "hosts' OVS bridge for VMs' public NICs" },
  PRIVATE_BRIDGE: {
    kind: 'string',
    default: 'private-br',
    doc: "hosts' OVS bridge for VMs' network NICs (VLAN trunk)",
  },
  RECONCILE_INTERVAL: {
    kind: 'number',
    default: '60',
    min: 1,
    max: 86400,
    doc: 'seconds between reconciliations of hosts with records',
  },
  POWER_SYNC_INTERVAL: {
    kind: 'number',
    default: '10',
    min: 1,
    max: 3600,
    doc: "seconds between compute's readings of its VMs' power state on hosts (a guest that powered itself off is D)",
  },
  SG_PROBE_SOURCES: {
    kind: 'string',
    doc: "comma-separated IPv4 addresses or networks whose pings (ICMP echo requests) reach every VM whatever its security groups: where monitoring pings a silent host's guests from (the monitoring machines; with HOST_CONFIRM=peer, the hosts' public addresses)",
  },
  ORPHAN_GRACE: {
    kind: 'number',
    default: '600',
    min: 0,
    max: 604800,
    doc: 'seconds an orphan domain, disk or port may live before removal',
  },
  VLANS: {
    kind: 'ranges',
    default: '2-4094',
    min: 1,
    max: 4094,
    doc: 'VLAN ids networks may take, e.g. 100-999,2000-2999',
  },
  VLANS_RESERVED: {
    kind: 'ranges',
    default: '',
    min: 1,
    max: 4094,
    doc: 'VLAN ids never given to networks (in use on the physical network)',
  },
  // Fair shares (inventory, services/quotas.ts): a workspace's defaults, which an admin changes per workspace.
  QUOTA_VMS: {
    kind: 'int',
    default: '100',
    min: 0,
    max: 1000000,
    doc: 'VMs a workspace may hold (default quota)',
  },
  QUOTA_VCPUS: {
    kind: 'int',
    default: '400',
    min: 0,
    max: 100000000,
    doc: "vCPUs of a workspace's VMs, summed (default quota)",
  },
  QUOTA_RAM: {
    kind: 'number',
    default: '400',
    min: 0,
    max: 100000000,
    doc: "memory of a workspace's VMs in GiB, summed (default quota)",
  },
  QUOTA_DISK: {
    kind: 'number',
    default: '4000',
    min: 0,
    max: 1000000000,
    doc: "disk of a workspace's VMs in GiB, summed (default quota)",
  },
  QUOTA_NETWORKS: {
    kind: 'int',
    default: '100',
    min: 0,
    max: 1000000,
    doc: 'networks a workspace may hold (default quota)',
  },
  QUOTA_ROUTERS: {
    kind: 'int',
    default: '50',
    min: 0,
    max: 1000000,
    doc: 'routers a workspace may hold (default quota)',
  },
  QUOTA_SNAPSHOTS: {
    kind: 'int',
    default: '100',
    min: 0,
    max: 1000000,
    doc: 'snapshots a workspace may hold (default quota)',
  },
  // Per-area ceilings no admin override lifts: one workspace cannot take an area's VLANs or public addresses.
  AREA_MAX_VLANS: {
    kind: 'int',
    default: '256',
    min: 0,
    max: 4094,
    doc: "VLANs one workspace may hold in an area (a network's VLAN is unique in the deployment, so it counts in every area)",
  },
  AREA_MAX_PUBLIC_IPS: {
    kind: 'int',
    default: '256',
    min: 0,
    max: 16777216,
    doc: 'public addresses (VMs) one workspace may hold in an area',
  },
  LAB_DIR: {
    kind: 'string',
    doc: 'state directory of the lab that `kloudak up` brings up and `kloudak lab` drives (unset: <data dir>/lab; for `kloudak lab`, /var/lib/kloudak/lab when the data dir holds no lab)',
  },
  UP_LAB: {
    kind: 'string',
    default: '1',
    doc: '`kloudak up` brings up a one-host lab (0 to skip, like --no-lab)',
  },
  LAB_DOMAIN_TYPE: {
    kind: 'string',
    default: 'auto',
    doc: 'domain type of lab hosts: kvm, qemu or auto (probe)',
  },
  MIGRATE_TIMEOUT: {
    kind: 'number',
    default: '300',
    min: 5,
    max: 86400,
    doc: 'seconds a live migration may take before it is aborted (the VM stays on its host)',
  },
  MIGRATE_DOWNTIME: {
    kind: 'int',
    default: '300',
    min: 10,
    max: 10000,
    doc: "milliseconds a live migration's switch-over may pause the guest",
  },
  RETRIES: {
    kind: 'int',
    default: '2',
    min: 0,
    max: 100,
    doc: 'times a failed task is resubmitted before rollback',
  },
  RETRY_WAIT: {
    kind: 'number',
    default: '1',
    min: 0,
    max: 3600,
    doc: 'seconds between a failure and its resubmission',
  },
  HTTP_TIMEOUT: {
    kind: 'number',
    default: '10',
    min: 0.1,
    max: 600,
    doc: 'seconds before an outbound HTTP call gives up',
  },
  HTTP_RETRIES: {
    kind: 'int',
    default: '3',
    min: 0,
    max: 20,
    doc: 'attempts after the first for idempotent outbound calls',
  },
  MONITOR_INTERVAL: {
    kind: 'number',
    default: '10',
    min: 0.5,
    max: 3600,
    doc: 'seconds between monitoring cycles (host checks, usage collection)',
  },
  MONITOR_CHECK_TIMEOUT: {
    kind: 'number',
    default: '15',
    min: 0.5,
    max: 600,
    doc: "seconds a host's usage collection may take before the check counts as failed (reachability itself is checked within 3 s)",
  },
  MONITOR_CONCURRENCY: {
    kind: 'int',
    default: '64',
    min: 1,
    max: 256,
    doc: 'hosts one monitoring worker checks at once',
  },
  MONITOR_RETENTION: {
    kind: 'number',
    default: '86400',
    min: 60,
    max: 31536000,
    doc: 'seconds usage samples are kept in the monitor database',
  },
  HOST_FAILURE_CHECKS: {
    kind: 'int',
    default: '3',
    min: 1,
    max: 100,
    doc: 'failed checks in a row before a host is marked down and host_failure is published (unless its guests answer on the public network)',
  },
  MONITOR_HEARTBEAT: {
    kind: 'number',
    default: '1',
    min: 0,
    max: 60,
    doc: "seconds between heartbeats on each host's long-lived connection (0: no heartbeats; checks alone detect failures)",
  },
  HOST_LEASE: {
    kind: 'number',
    default: '3',
    min: 0.5,
    max: 600,
    doc: 'seconds a host may leave heartbeats unanswered before monitoring asks its guests on the public network and, if none answers, reports host_failure',
  },
  HOST_CONFIRM_GRACE: {
    kind: 'number',
    default: '10',
    min: 0,
    max: 600,
    doc: "seconds a guest must have run on a host before its silence counts as the host's death (a booting guest does not answer yet; a host with only younger guests is failed by its checks alone)",
  },
  HOST_CONFIRM: {
    kind: 'enum',
    values: ['local', 'peer', 'off'] as const,
    default: 'local',
    doc: "where a silent host's guests are pinged from before it is reported failed: local (the monitoring machine), peer (another up host of the area, over SSH), off (no second path: a lapsed lease alone reports the failure)",
  },
  MONITOR_SESSIONS: {
    kind: 'int',
    default: '64',
    min: 1,
    max: 4096,
    doc: 'long-lived virsh sessions one monitoring worker keeps (~21 MB each); past that many hosts, hosts share sessions and have no heartbeat',
  },
  STATS_PORT: { kind: 'int', default: '8100', min: 0, max: 65535, doc: 'monitoring stats API port' },
  COMPUTE_VM_TASKS: {
    kind: 'int',
    default: '4',
    min: 1,
    max: 100,
    doc: "VM tasks (and their rollbacks) one compute process runs at once; more wait in the queue. They mostly wait on the hosts (ssh, virsh), so this bounds the processes compute keeps running on its machine and the SSH sessions per host (sshd's MaxSessions is 10 per connection), not its CPU (Nova's max_concurrent_builds is 10)",
  },
  COMPUTE_PORT: {
    kind: 'int',
    default: '8200',
    min: 0,
    max: 65535,
    doc: "compute's console bridge port (the controller's only way to a VM's serial console)",
  },
  ZK_SESSION_TIMEOUT: {
    kind: 'number',
    default: '10',
    min: 2,
    max: 120,
    doc: 'ZooKeeper session timeout in seconds (a dead monitoring leader is replaced after about this long)',
  },
  FENCE_COMMAND: {
    kind: 'string',
    doc: 'program compute runs (argv: host, address, domains...) to power off a failed host or its guests before restarting them elsewhere; words separated by spaces are the program and its first arguments (no shell)',
  },
} satisfies Record<string, Spec>;

export type ConfigKey = keyof typeof spec;
type ValueOf<S> = S extends { kind: 'int' | 'number' }
  ? number
  : S extends { kind: 'enum'; values: readonly (infer V)[] }
    ? V
    : S extends { kind: 'ranges' }
      ? [number, number][]
      : S extends { kind: 'bool' }
        ? boolean
        : string;
type Defaulted<S> = S extends { default: string } ? ValueOf<S> : ValueOf<S> | undefined;
export type Config = { [K in ConfigKey]: Defaulted<(typeof spec)[K]> };

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/** What example files and habits put where a secret belongs. */
const PLACEHOLDER =
  /change[-_ ]?me|changeit|placeholder|replace[-_ ]?me|your[-_ ]?secret|^(secret|password|example)$/i;

function parseOne(name: string, s: Spec, raw: string): { value?: unknown; problem?: string } {
  switch (s.kind) {
    case 'int':
    case 'number': {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n) || (s.kind === 'int' && !Number.isInteger(n)))
        return {
          problem: `${name}=${JSON.stringify(raw)}: not ${s.kind === 'int' ? 'an integer' : 'a number'}`,
        };
      if ((s.min !== undefined && n < s.min) || (s.max !== undefined && n > s.max))
        return { problem: `${name}=${raw}: must be between ${s.min} and ${s.max}` };
      return { value: n };
    }
    case 'bool':
      if (!['true', 'false', '1', '0'].includes(raw))
        return { problem: `${name}=${JSON.stringify(raw)}: not true or false` };
      return { value: raw === 'true' || raw === '1' };
    case 'url': {
      let u: URL;
      try {
        u = new URL(raw);
      } catch {
        return { problem: `${name}: not a URL` };
      }
      if (s.protocols && !s.protocols.includes(u.protocol))
        return { problem: `${name}: protocol must be one of ${s.protocols.join(' ')}` };
      return { value: raw.replace(/\/+$/, '') };
    }
    case 'ranges': {
      const out: [number, number][] = [];
      for (const part of raw
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean)) {
        const m = /^(\d+)(?:-(\d+))?$/.exec(part);
        const lo = Number(m?.[1]);
        const hi = Number(m?.[2] ?? m?.[1]);
        if (!m || lo > hi || lo < (s.min ?? 0) || hi > (s.max ?? Infinity))
          return { problem: `${name}: ${JSON.stringify(part)} is not a range within ${s.min}-${s.max}` };
        out.push([lo, hi]);
      }
      return { value: out };
    }
    case 'secret': {
      const min = s.min ?? 16;
      if (PLACEHOLDER.test(raw)) return { problem: `${name}: a placeholder, not a secret: set a real one` };
      if (raw.length < min) return { problem: `${name}: must be at least ${min} characters` };
      if (new Set(raw).size < 5) return { problem: `${name}: too few distinct characters to be a secret` };
      return { value: raw };
    }
    case 'string':
      if (raw.trim() === '') return { problem: `${name}: empty` };
      return { value: raw };
    case 'enum':
      if (!s.values?.includes(raw))
        return { problem: `${name}=${JSON.stringify(raw)}: not one of ${s.values?.join(' ')}` };
      return { value: raw };
  }
}

// On one machine a service moved to another port is still found: an unset URL follows its service's port
// (a bad port is reported as itself, not again as a bad URL).
type Given = (k: ConfigKey) => string | undefined;
const onPort = (scheme: string, port: ConfigKey) => (given: Given) => {
  const p = given(port)?.trim();
  return p && /^[1-9]\d*$/.test(p) ? `${scheme}://127.0.0.1:${p}` : undefined; // 0 is any port: unknown here
};
const LOCAL_URLS: Partial<Record<ConfigKey, (given: Given) => string | undefined>> = {
  INVENTORY_URL: onPort('http', 'INVENTORY_PORT'),
  CONTROLLER_URL: onPort('http', 'CONTROLLER_PORT'),
  NOTIFICATION_URL: onPort('ws', 'NOTIFICATION_PORT'),
  STATS_URL: onPort('http', 'STATS_PORT'),
  COMPUTE_URL: onPort('http', 'COMPUTE_PORT'),
};

/** Parses the configuration once; throws ConfigError naming every bad value (secrets never echoed). */
export function loadConfig(
  env: NodeJS.ProcessEnv = process.env,
  overrides: Partial<Record<ConfigKey, string>> = {},
): Config {
  const problems: string[] = [];
  let file: Record<string, unknown> = {};
  const filePath = env.KLOUDAK_CONFIG;
  if (filePath) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(filePath, 'utf8'));
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
        problems.push(`KLOUDAK_CONFIG ${filePath}: not a JSON object`);
      else file = parsed as Record<string, unknown>;
    } catch (e) {
      problems.push(`KLOUDAK_CONFIG ${filePath}: ${(e as Error).message}`);
    }
    for (const key of Object.keys(file)) {
      const short = key.replace(/^KLOUDAK_/, '');
      if (!(short in spec)) problems.push(`KLOUDAK_CONFIG ${filePath}: unknown key ${key}`);
    }
  }
  for (const key of Object.keys(env)) {
    if (key.startsWith('KLOUDAK_') && key !== 'KLOUDAK_CONFIG' && !(key.slice(8) in spec))
      problems.push(`${key}: unknown setting`);
  }
  const out: Record<string, unknown> = {};
  const given = (short: ConfigKey) => {
    const name = `KLOUDAK_${short}`;
    const fromFile = file[name] ?? file[short];
    return overrides[short] ?? env[name] ?? (fromFile === undefined ? undefined : String(fromFile));
  };
  for (const [short, s] of Object.entries(spec) as [ConfigKey, Spec][]) {
    const name = `KLOUDAK_${short}`;
    const raw = given(short) ?? LOCAL_URLS[short]?.(given) ?? s.default;
    if (raw === undefined) continue;
    const { value, problem } = parseOne(name, s, raw);
    if (problem) problems.push(s.kind === 'secret' ? problem.replace(/=.*?:/, ':') : problem);
    else out[short] = value;
  }
  if (problems.length) throw new ConfigError(problems);
  out.DATA_DIR = resolve(out.DATA_DIR as string);
  return out as Config;
}

export function describeConfig(): string {
  return (Object.entries(spec) as [string, Spec][])
    .map(([k, s]) => `KLOUDAK_${k}${s.default !== undefined ? ` (default ${s.default})` : ''}: ${s.doc}`)
    .join('\n');
}
