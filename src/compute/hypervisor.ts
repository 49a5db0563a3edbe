// libvirt through virsh: one method per command, arguments as an array, documented failures turned into
// results (an absent domain is `undefined`, destroying a stopped one is done).
import { randomUUID } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandError, run } from '../lib/exec.ts';
import { assertLibvirtUri } from '../lib/libvirt-uri.ts';

export type DomainState = 'running' | 'shut off' | 'paused' | 'crashed' | 'other';

export interface Interface {
  dev: string;
  mac: string;
  bridge: string;
}

/** The role: a hypervisor host's domains. */
export interface Hypervisor {
  define(uri: string, xml: string): Promise<void>;
  /** The domain's persistent definition (what a start would run), secrets included: for another define. */
  definition(uri: string, name: string): Promise<string>;
  start(uri: string, name: string): Promise<void>;
  /** Stops a domain at once; done when it is already stopped or absent. */
  destroy(uri: string, name: string): Promise<void>;
  /** Removes a domain's definition (and libvirt's metadata of its snapshots); done when absent. */
  undefine(uri: string, name: string): Promise<void>;
  /** Presses the ACPI power button (the guest shuts down if it listens); done when it is not running. */
  shutdown(uri: string, name: string): Promise<void>;
  state(uri: string, name: string): Promise<DomainState | undefined>;
  list(uri: string): Promise<string[]>;
  /** Every domain of the host and its state, in one call. */
  states(uri: string): Promise<Map<string, DomainState>>;
  interfaces(uri: string, name: string): Promise<Interface[]>;
  /** Adds a device to the definition, and to the running domain unless `live` is false (a stopped one). */
  attachDevice(uri: string, name: string, xml: string, live?: boolean): Promise<void>;
  detachDevice(uri: string, name: string, xml: string, live?: boolean): Promise<void>;
  /** Host facts: cpus and memory (MiB), free memory (MiB). */
  nodeInfo(uri: string): Promise<{ cpus: number; memoryMib: number; freeMib: number }>;

  // Snapshots: internal qcow2 snapshots, kept inside the VM's overlay on the shared pool.
  /** Takes a snapshot (the disk, and the memory when the domain runs); done when one of that name exists. */
  snapshotCreate(uri: string, name: string, snapshot: string): Promise<void>;
  /** Brings the domain back to a snapshot (stopped if it was taken stopped, running if running). */
  snapshotRevert(uri: string, name: string, snapshot: string): Promise<void>;
  /** Deletes a snapshot; done when there is none of that name. */
  snapshotDelete(uri: string, name: string, snapshot: string): Promise<void>;
  /** The domain's snapshots' names, oldest first. */
  snapshots(uri: string, name: string): Promise<string[]>;
  /** Makes libvirt on this host know a snapshot whose data is in the disk already (its saved XML). */
  snapshotRedefine(uri: string, name: string, xml: string): Promise<void>;
  /** Forgets a snapshot's metadata on this host, leaving its data in the disk; done when unknown. */
  snapshotForget(uri: string, name: string, snapshot: string): Promise<void>;
  /** Live-migrates a running domain peer to peer (the source's libvirtd connects to destUri), its memory
   * over migrateUri; resolves when the domain runs on the destination and is gone from the source. */
  migrate(uri: string, name: string, m: MigrateOptions): Promise<void>;
  /** The domain's running job (a migration): bytes processed, remaining and total; undefined when none. */
  jobInfo(uri: string, name: string): Promise<JobInfo | undefined>;
  /** A running migration's bandwidth cap (MiB/s). */
  setMigrateSpeed(uri: string, name: string, mibPerSecond: number): Promise<void>;
  /** The longest pause the migration may take to switch over (ms); settable before or during it. */
  setMaxDowntime(uri: string, name: string, ms: number): Promise<void>;
  /** Aborts the domain's running job; done when none runs. */
  abortJob(uri: string, name: string): Promise<void>;
}

export interface MigrateOptions {
  destUri: string;
  /** Where the destination's QEMU listens for the memory stream: tcp://<management address>. */
  migrateUri: string;
  /** Starting bandwidth cap (MiB/s). */
  bandwidthMib?: number;
  timeoutMs: number;
}

export interface JobInfo {
  processed: number;
  remaining: number;
  total: number;
}

const STATES = ['running', 'shut off', 'paused', 'crashed'] as const;
const stateOf = (s: string): DomainState => STATES.find((x) => s.startsWith(x)) ?? 'other';

/** `virsh -q list --all`: one line per domain, "<id or -> <name> <state words>". */
export function parseDomainList(out: string): Map<string, DomainState> {
  const m = new Map<string, DomainState>();
  for (const line of out.split('\n')) {
    const cols = /^\s*(\S+)\s+(\S+)\s+(.+?)\s*$/.exec(line);
    if (cols) m.set(cols[2], stateOf(cols[3]));
  }
  return m;
}

const NO_SNAPSHOT = /snapshot not found|no domain snapshot with matching name/i;
const SNAPSHOT_EXISTS = /already exists/i;

const NO_DOMAIN = /failed to get domain|Domain not found|no domain with matching/i;
const NOT_RUNNING = /domain is not running|not running/i;

/** virsh dying of a signal (its libssh transport crashes now and then) or losing its connection is worth
 * another try: every command here is safe to repeat. */
const TRANSIENT = /Cannot recv data|End of file while reading|Connection reset by peer/i;
const isTransient = (e: unknown) =>
  e instanceof CommandError &&
  ((typeof e.code === 'string' && e.code.startsWith('SIG')) || TRANSIENT.test(e.stderr));

export function createVirshHypervisor(timeoutMs = 60_000, attempts = 5): Hypervisor {
  const virsh = async (uri: string, args: string[]): Promise<string> => {
    // Checked at registration too; a row written before the rule (or by hand) is refused here.
    assertLibvirtUri(uri);
    for (let attempt = 1; ; attempt++) {
      try {
        return await run('virsh', ['-q', '-c', uri, ...args], { timeoutMs });
      } catch (e) {
        if (attempt >= attempts || !isTransient(e)) throw e;
        // Crashes come in bursts: back off 1, 2, 3, 4 s.
        await new Promise((r) => setTimeout(r, 1000 * attempt));
      }
    }
  };
  const withFile = async <T>(xml: string, fn: (file: string) => Promise<T>): Promise<T> => {
    const file = join(tmpdir(), `kloudak-${randomUUID()}.xml`);
    await writeFile(file, xml, { mode: 0o600 });
    try {
      return await fn(file);
    } finally {
      await rm(file, { force: true });
    }
  };
  const unless = async (p: Promise<unknown>, ok: RegExp) => {
    try {
      await p;
    } catch (e) {
      if (!(e instanceof CommandError) || !ok.test(e.stderr)) throw e;
    }
  };
  return {
    define: (uri, xml) => withFile(xml, (f) => virsh(uri, ['define', f]).then(() => undefined)),
    definition: (uri, name) => virsh(uri, ['dumpxml', '--inactive', '--security-info', name]),
    start: (uri, name) => unless(virsh(uri, ['start', name]), /already active/i),
    destroy: (uri, name) =>
      unless(virsh(uri, ['destroy', name]), new RegExp(`${NO_DOMAIN.source}|${NOT_RUNNING.source}`, 'i')),
    // A domain with snapshots is refused without --snapshots-metadata (their data goes with the disk).
    undefine: (uri, name) => unless(virsh(uri, ['undefine', '--snapshots-metadata', name]), NO_DOMAIN),
    shutdown: (uri, name) => unless(virsh(uri, ['shutdown', '--mode', 'acpi', name]), NOT_RUNNING),
    async state(uri, name) {
      try {
        return stateOf((await virsh(uri, ['domstate', name])).trim());
      } catch (e) {
        if (e instanceof CommandError && NO_DOMAIN.test(e.stderr)) return undefined;
        throw e;
      }
    },
    async list(uri) {
      return (await virsh(uri, ['list', '--all', '--name']))
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean);
    },
    async states(uri) {
      return parseDomainList(await virsh(uri, ['list', '--all']));
    },
    async interfaces(uri, name) {
      const out = await virsh(uri, ['domiflist', name]);
      // Columns: Interface Type Source Model MAC
      return out
        .split('\n')
        .map((l) => l.trim().split(/\s+/))
        .filter((c) => c.length >= 5)
        .map(([dev, , bridge, , mac]) => ({ dev: dev, bridge: bridge, mac: mac }));
    },
    attachDevice: (uri, name, xml, live = true) =>
      withFile(xml, (f) =>
        virsh(uri, ['attach-device', name, f, ...(live ? ['--live'] : []), '--config']).then(() => undefined),
      ),
    detachDevice: (uri, name, xml, live = true) =>
      withFile(xml, (f) =>
        virsh(uri, ['detach-device', name, f, ...(live ? ['--live'] : []), '--config']).then(() => undefined),
      ),
    snapshotCreate: (uri, name, snapshot) =>
      unless(
        virsh(uri, ['snapshot-create-as', '--domain', name, '--name', snapshot, '--atomic']),
        SNAPSHOT_EXISTS,
      ),
    snapshotRevert: (uri, name, snapshot) =>
      virsh(uri, ['snapshot-revert', '--domain', name, '--snapshotname', snapshot]).then(() => undefined),
    snapshotDelete: (uri, name, snapshot) =>
      unless(virsh(uri, ['snapshot-delete', '--domain', name, '--snapshotname', snapshot]), NO_SNAPSHOT),
    async snapshots(uri, name) {
      return (await virsh(uri, ['snapshot-list', '--domain', name, '--name', '--topological']))
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean);
    },
    snapshotRedefine: (uri, name, xml) =>
      withFile(xml, (f) =>
        virsh(uri, ['snapshot-create', '--domain', name, '--xmlfile', f, '--redefine']).then(() => undefined),
      ),
    snapshotForget: (uri, name, snapshot) =>
      unless(
        virsh(uri, ['snapshot-delete', '--domain', name, '--snapshotname', snapshot, '--metadata']),
        NO_SNAPSHOT,
      ),
    // --unsafe: libvirt counts a disk as shared only on a file system it knows to be (NFS, GFS2, Ceph ...);
    // the pool is one directory mounted on every host (bind mounts here), which it cannot tell from a local
    // disk. QEMU flushes and hands the disk over at the switch; the lock manager moves its lease.
    // --persistent --undefinesource: the definition moves with the domain, so it exists on exactly one host.
    migrate: (uri, name, m) =>
      run(
        'virsh',
        [
          '-q',
          '-c',
          uri,
          'migrate',
          '--live',
          '--p2p',
          '--persistent',
          '--undefinesource',
          '--unsafe',
          ...(m.bandwidthMib ? ['--bandwidth', String(Math.max(1, Math.round(m.bandwidthMib)))] : []),
          '--migrateuri',
          m.migrateUri,
          name,
          m.destUri,
        ],
        { timeoutMs: m.timeoutMs },
      ).then(() => undefined),
    async jobInfo(uri, name) {
      const out = await virsh(uri, ['domjobinfo', name]);
      if (/Job type:\s+None/.test(out)) return undefined;
      const bytes = (label: string) => {
        const m = new RegExp(`${label}:\\s+([\\d.]+)\\s+(\\w+)`).exec(out);
        if (!m) return 0;
        const unit = { B: 1, KiB: 1024, MiB: 1 << 20, GiB: 1 << 30, TiB: 2 ** 40 }[m[2]] ?? 1;
        return Math.round(Number(m[1]) * unit);
      };
      return {
        processed: bytes('Data processed'),
        remaining: bytes('Data remaining'),
        total: bytes('Data total'),
      };
    },
    setMigrateSpeed: (uri, name, mib) =>
      virsh(uri, ['migrate-setspeed', name, String(Math.max(1, Math.round(mib)))]).then(() => undefined),
    setMaxDowntime: (uri, name, ms) =>
      virsh(uri, ['migrate-setmaxdowntime', name, String(Math.max(1, Math.round(ms)))]).then(() => undefined),
    abortJob: (uri, name) => unless(virsh(uri, ['domjobabort', name]), /no job is active|not running/i),
    async nodeInfo(uri) {
      const info = await virsh(uri, ['nodeinfo']);
      const num = (label: string) => Number(new RegExp(`${label}:\\s+(\\d+)`).exec(info)?.[1] ?? 0);
      const free = await virsh(uri, ['freecell', '--all']).catch(() => '');
      const freeKib = Number(/Total:\s+(\d+)\s+KiB/.exec(free)?.[1] ?? 0);
      return {
        cpus: num('CPU\\(s\\)'),
        memoryMib: Math.floor(num('Memory size') / 1024),
        freeMib: Math.floor(freeKib / 1024),
      };
    },
  };
}
