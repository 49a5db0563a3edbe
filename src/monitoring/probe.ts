// What a monitoring worker reads from a host: libvirt's node facts and running domains' stats (one virsh
// invocation per host per cycle: one connection), and a pool's size and free space (df over SSH). The role
// is `HostProbe`; the adapter runs virsh and ssh with argument arrays and a timeout.
import { CommandError, run } from '../lib/exec.ts';
import { tcpReach } from '../lib/tcp.ts';
import type { HostShell } from '../lib/ssh.ts';

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
  /** Throws unless the endpoint of the libvirt URI accepts a TCP connection in time (local URIs: no-op). */
  reach?(uri: string, timeoutMs: number): Promise<void>;
  host(uri: string, timeoutMs: number): Promise<HostFacts>;
  pool(address: string, path: string, timeoutMs: number): Promise<PoolFacts>;
}

const BATCH = [
  'nodeinfo',
  'echo @@cpu@@',
  'nodecpustats',
  'echo @@free@@',
  // Not --all: on libvirt 9 it costs seconds more per host for the same total.
  'freecell',
  'echo @@stats@@',
  'domstats --raw --state --cpu-total --balloon --vcpu --list-running',
  'echo @@list@@',
  'list --title',
].join('; ');

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

export function createVirshProbe(shell: HostShell): HostProbe {
  return {
    async reach(uri, timeoutMs) {
      const ep = endpointOf(uri);
      if (ep) await tcpReach(ep.host, ep.port, timeoutMs);
    },
    async host(uri, timeoutMs) {
      // run() closes stdin at once: libvirt's libssh transport cannot ask whether to trust an unknown key.
      let out: string;
      try {
        // virsh 9.0 over libssh now and then dies of a segfault, sometimes a few times running: up to two more
        // tries, not a failed check (three failed checks mark a host down).
        const crashed = (e: unknown) =>
          e instanceof CommandError && (e.code === null || String(e.code).startsWith('SIG'));
        for (let attempt = 1; ; attempt++) {
          try {
            out = await run('virsh', ['-q', '-c', uri, BATCH], { timeoutMs });
            break;
          } catch (e) {
            if (attempt >= 3 || !crashed(e)) throw e;
          }
        }
      } catch (e) {
        // The message without the command line (long, and it carries the key file's path).
        if (e instanceof CommandError)
          throw new Error(
            `virsh ${e.code === 'timeout' ? `timed out after ${timeoutMs} ms` : `failed (${e.code ?? 'signal'})`}: ${
              e.stderr
                .replace(/^Command failed:.*\n?/, '')
                .trim()
                .slice(-300) || 'no message'
            }`,
          );
        throw e;
      }
      return parseHostBatch(out);
    },
    async pool(address, path, timeoutMs) {
      const script = 'df -Pk "$1" && { du -sk "$1/vms" 2>/dev/null || echo "0 $1/vms"; }';
      return parsePoolOutput(await shell.run(address, ['sh', '-c', script, 'sh', path], { timeoutMs }));
    },
  };
}
