// What a monitoring worker reads from a host: libvirt's node facts and running domains' stats (one batch of
// virsh commands per host per cycle, on the host's long-lived session: src/monitoring/sessions.ts), a
// heartbeat on the same connection, and a pool's size and free space (df over SSH). The role is `HostProbe`;
// the adapter feeds virsh sessions and runs ssh with argument arrays, every call with a timeout.
import { assertLibvirtUri } from '../lib/libvirt-uri.ts';
import { tcpReach } from '../lib/tcp.ts';
import type { HostShell } from '../lib/ssh.ts';
import { SessionError, type VirshSessions } from './sessions.ts';

export interface DomainFacts {
  name: string;
  /** The domain's title: Kloudak sets "<workspace>/<vm>". */
  title?: string;
  cpuTimeNs: number;
  cpuUserNs: number;
  cpuSystemNs: number;
  /** Current and maximum memory (KiB), and the qemu process's resident set when known. */
  memoryKib: number;
  maxMemoryKib: number;
  rssKib?: number;
  vcpus: number;
}

export interface HostFacts {
  cpus: number;
  memoryMib: number;
  freeMib: number;
  /** Cumulative host CPU time (ns) by kind, for busy fractions between two checks. */
  cpuTimes?: { user: number; system: number; idle: number; iowait: number };
  /** Running domains. */
  domains: DomainFacts[];
}

export interface PoolFacts {
  /** Filesystem size and space available (GiB), as df sees the pool path. */
  fsSizeGib: number;
  fsFreeGib: number;
  /** Space VM files take under <pool>/vms (GiB, allocated blocks). */
  usedGib: number;
}

export interface HostProbe {
  host(uri: string, timeoutMs: number): Promise<HostFacts>;
  /**
   * One cheap call on the host's long-lived connection (throws when it fails). Answers false, without calling,
   * when the host has no connection of its own to spare (more hosts than sessions): its checks renew its lease.
   */
  heartbeat?(uri: string, timeoutMs: number): Promise<boolean>;
  /** The worker stopped watching the host: its connection may go. */
  release?(uri: string): void;
  pool(address: string, path: string, timeoutMs: number): Promise<PoolFacts>;
  close?(): Promise<void>;
}

// Section markers are quoted so that virsh's echo of the command line it read never holds them.
const section = (name: string) => `echo "@@""${name}@@"`;
const BATCH = [
  'nodeinfo',
  section('cpu'),
  'nodecpustats',
  section('free'),
  // Not --all: on libvirt 9 it costs seconds more per host for the same total.
  'freecell',
  section('stats'),
  'domstats --raw --state --cpu-total --balloon --vcpu --list-running',
  section('list'),
  'list --title',
];

/** Parses the output of BATCH (exported for tests). */
export function parseHostBatch(out: string): HostFacts {
  const sections = new Map<string, string>();
  const parts = out.split(/@@(\w+)@@/);
  sections.set('nodeinfo', parts[0] ?? '');
  for (let i = 1; i < parts.length; i += 2) sections.set(parts[i], parts[i + 1] ?? '');
  const info = sections.get('nodeinfo')!;
  const num = (text: string, label: string) =>
    Number(new RegExp(`${label}:\\s+(\\d+)`).exec(text)?.[1] ?? NaN);
  const cpus = num(info, 'CPU\\(s\\)');
  const memKib = num(info, 'Memory size');
  if (!Number.isFinite(cpus) || !Number.isFinite(memKib))
    throw new Error(`virsh nodeinfo answered nothing usable: ${info.slice(0, 200)}`);
  // freecell -q lists cells without the Total line: sum the cells (or take Total when present).
  const free = sections.get('free') ?? '';
  const total = /Total:\s+(\d+)\s+KiB/.exec(free);
  const freeKib = total
    ? Number(total[1])
    : [...free.matchAll(/^\s*\d+:\s+(\d+)\s+KiB/gm)].reduce((s, m) => s + Number(m[1]), 0);
  const cpuText = sections.get('cpu') ?? '';
  const cpuTimes = /user:/.test(cpuText)
    ? {
        user: num(cpuText, 'user'),
        system: num(cpuText, 'system'),
        idle: num(cpuText, 'idle'),
        iowait: num(cpuText, 'iowait') || 0,
      }
    : undefined;

  const titles = new Map<string, string>();
  for (const line of (sections.get('list') ?? '').split('\n')) {
    // " 3   kloudak-<id>   running   ws/vm" (title may be empty)
    const m =
      /^\s*(\d+|-)\s+(\S+)\s+(running|idle|paused|in shutdown|shut off|crashed|pmsuspended|blocked|dying)\s*(.*)$/.exec(
        line,
      );
    if (m && m[4].trim()) titles.set(m[2], m[4].trim());
  }
  const domains: DomainFacts[] = [];
  for (const block of (sections.get('stats') ?? '').split(/^Domain: /m).slice(1)) {
    const name = /^'([^']*)'/.exec(block)?.[1];
    if (!name) continue;
    const kv = new Map<string, number>();
    for (const m of block.matchAll(/^\s+([\w.]+)=(\S+)$/gm)) kv.set(m[1], Number(m[2]));
    const g = (k: string) => kv.get(k) ?? 0;
    domains.push({
      name,
      title: titles.get(name),
      cpuTimeNs: g('cpu.time'),
      cpuUserNs: g('cpu.user'),
      cpuSystemNs: g('cpu.system'),
      memoryKib: g('balloon.current'),
      maxMemoryKib: g('balloon.maximum') || g('balloon.current'),
      rssKib: kv.get('balloon.rss'),
      vcpus: g('vcpu.current') || g('vcpu.maximum'),
    });
  }
  return {
    cpus,
    memoryMib: Math.floor(memKib / 1024),
    freeMib: Math.floor(freeKib / 1024),
    cpuTimes,
    domains,
  };
}

/** Parses `df -Pk <path>` followed by `du -sk <path>/vms`. */
export function parsePoolOutput(out: string): PoolFacts {
  const lines = out.trim().split('\n');
  const dfLine = lines.find((l) => /^\S+\s+\d+\s+\d+\s+\d+\s+\d+%/.test(l));
  if (!dfLine) throw new Error(`df answered nothing usable: ${out.slice(0, 200)}`);
  const [, size, , avail] = dfLine.split(/\s+/);
  const du = lines.map((l) => /^(\d+)\s+\S*vms$/.exec(l)).find(Boolean);
  const gib = (kib: number) => kib / (1024 * 1024);
  return { fsSizeGib: gib(Number(size)), fsFreeGib: gib(Number(avail)), usedGib: gib(Number(du?.[1] ?? 0)) };
}

const DEFAULT_PORTS: Record<string, number> = { ssh: 22, libssh: 22, libssh2: 22, tcp: 16509, tls: 16514 };

/** The TCP endpoint a libvirt URI connects to, or undefined for a local one (qemu:///system, test:///...). */
export function endpointOf(uri: string): { host: string; port: number } | undefined {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    return undefined;
  }
  if (!u.hostname) return undefined;
  const transport = /^[a-z0-9]+\+([a-z0-9]+):$/.exec(u.protocol)?.[1] ?? 'tls';
  const port = u.port ? Number(u.port) : DEFAULT_PORTS[transport];
  return port ? { host: u.hostname.replace(/^\[|\]$/g, ''), port } : undefined;
}

export interface VirshProbeOptions {
  /** Bound for the TCP reach test before a connection is (re)opened. */
  reachTimeoutMs?: number;
  /**
   * Throws for a URI virsh must not be given. Default: only SSH transports with the platform's own
   * parameters (src/lib/libvirt-uri.ts; registration checks it too, this is the last defence). Benchmarks and
   * tests on libvirt's test:/// driver pass their own.
   */
  checkUri?: (uri: string) => unknown;
}

export function createVirshProbe(
  shell: HostShell,
  sessions: VirshSessions,
  o: VirshProbeOptions = {},
): HostProbe {
  /** Runs commands on the host's session; reconnecting first costs a TCP reach test (a cut host fails fast). */
  const checkUri = o.checkUri ?? assertLibvirtUri;
  async function call(uri: string, commands: string[], timeoutMs: number): Promise<string> {
    checkUri(uri);
    // virsh 9.0 over libssh now and then dies of a segfault, sometimes a few times running: up to two more
    // tries on a fresh shell, not a failed check (three failed checks mark a host down).
    for (let attempt = 1; ; attempt++) {
      if (!sessions.connected(uri)) {
        const ep = endpointOf(uri);
        if (ep) await tcpReach(ep.host, ep.port, Math.min(timeoutMs, o.reachTimeoutMs ?? 3000));
      }
      try {
        return await sessions.run(uri, commands, timeoutMs);
      } catch (e) {
        if (attempt >= 3 || !(e instanceof SessionError) || e.kind !== 'exit') throw e;
      }
    }
  }
  return {
    // No stdin prompt can be answered: a session's stdin carries its commands, and libvirt's libssh transport
    // asking whether to trust an unknown host key reads a command line, which is no "yes" (refused).
    async host(uri, timeoutMs) {
      try {
        return parseHostBatch(await call(uri, BATCH, timeoutMs));
      } catch (e) {
        // The message without the URI (it carries the key file's path).
        if (e instanceof SessionError) throw new Error(`virsh: ${e.message.slice(-300)}`);
        throw e;
      }
    },
    async heartbeat(uri, timeoutMs) {
      if (!sessions.dedicated(uri)) return false;
      // `hostname` is one round trip to libvirtd over the kept-open connection.
      const out = await call(uri, ['hostname'], timeoutMs);
      if (!out.trim()) throw new Error('virsh hostname answered nothing');
      return true;
    },
    release: (uri) => sessions.release(uri),
    close: () => sessions.close(),
    async pool(address, path, timeoutMs) {
      const script = 'df -Pk "$1" && { du -sk "$1/vms" 2>/dev/null || echo "0 $1/vms"; }';
      return parsePoolOutput(await shell.run(address, ['sh', '-c', script, 'sh', path], { timeoutMs }));
    },
  };
}
