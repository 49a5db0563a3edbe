// The lab: N hypervisor hosts on this machine, each in its own network and mount namespaces with its own
// libvirtd, Open vSwitch and sshd, reachable like real hosts over SSH on a management bridge. docs/lab.md
// describes the topology.
import { chmod, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { run, tryRun } from './exec.ts';
import {
  ensureRootNet,
  removeRootNet,
  setHostLinks,
  type CutScope,
  waitHostReachable,
  netnsList,
  labRootLinks,
} from './net.ts';
import {
  ensureNsDir,
  ensureHost,
  destroyHost,
  hostHandle,
  hostProcs,
  daemonPids,
  hostPublicKey,
  isMountpoint,
  libvirtdAnswers,
  missingBinds,
  mountsUnder,
} from './host.ts';
import { detectDomainType, ensureGuestTemplate, templatePaths } from './guest.ts';
import {
  NET,
  HOST_POOL_PATH,
  labPaths,
  readRecord,
  writeRecord,
  type DomainType,
  type LabPaths,
  type LabRecord,
} from './state.ts';

export type { DomainType } from './state.ts';
export { NET, HOST_POOL_PATH } from './state.ts';
export type { CutScope } from './net.ts';

export type LabLog = (line: string) => void;

export interface LabUpOptions {
  hosts: number;
  stateDir: string;
  log?: LabLog;
  /** 'auto' (default, or $KLOUDAK_LAB_DOMAIN_TYPE): qemu unless /dev/kvm exists and a probe boot under KVM prints. */
  domainType?: DomainType | 'auto';
  /** Build the test guest and put it in the pool as a template (default true). */
  guest?: boolean;
}

export interface LabHostStatus {
  name: string;
  ip: string;
  uri: string;
  ssh: { user: 'root'; key: string; knownHosts: string };
  pool: string;
  domainType: DomainType;
  bridges: { public: string; private: string };
  /** All of virtlogd, libvirtd, ovsdb-server, ovs-vswitchd and sshd run. */
  healthy: boolean;
  /** Cut off the networks by labCutHost. */
  cut: boolean;
  pids: Record<string, number>;
}

export interface LabStatus {
  stateDir: string;
  up: boolean;
  domainType: DomainType;
  ssh: { user: 'root'; key: string; knownHosts: string };
  pool: { path: string; localPath: string };
  template?: { name: string; kernel: string; initrd: string; disk: string };
  network: {
    mgmtBridge: string;
    mgmtGateway: string;
    publicBridge: string;
    publicSubnet: string;
    publicGateway: string;
    privateTrunk: string;
  };
  hosts: LabHostStatus[];
}

/**
 * The libvirt URI of a lab host. libvirt's plain `qemu+ssh` transport runs the ssh binary, which ignores the
 * known_hosts query parameter (it reads ~/.ssh/known_hosts), so we use the libssh transport: it reads the
 * lab's known_hosts itself and refuses unknown or changed host keys (known_hosts_verify=normal).
 */
export function hostUri(paths: LabPaths, ip: string): string {
  const enc = (v: string) => encodeURIComponent(v).replace(/%2F/g, '/');
  const q = [
    `keyfile=${enc(paths.key)}`,
    `known_hosts=${enc(paths.knownHosts)}`,
    'known_hosts_verify=normal',
    'sshauth=privkey',
  ];
  return `qemu+libssh://root@${ip}/system?${q.join('&')}`;
}

async function readDomainType(paths: LabPaths): Promise<DomainType | undefined> {
  const t = (await readFile(paths.domainTypeFile, 'utf8').catch(() => '')).trim();
  return t === 'kvm' || t === 'qemu' ? t : undefined;
}

async function ensureClientKey(paths: LabPaths): Promise<void> {
  if (!existsSync(paths.key))
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'kloudak-lab', '-f', paths.key]);
}

export async function labUp(opts: LabUpOptions): Promise<LabStatus> {
  const log = opts.log ?? (() => undefined);
  if (!Number.isInteger(opts.hosts) || opts.hosts < 1 || opts.hosts > 200)
    throw new Error('hosts must be 1..200');
  const paths = labPaths(opts.stateDir);
  await mkdir(paths.stateDir, { recursive: true, mode: 0o700 });
  await chmod(paths.stateDir, 0o700); // it holds the hosts' root key: ours only, also when made before
  await mkdir(paths.pool, { recursive: true });
  await chmod(paths.pool, 0o755);
  await mkdir(paths.hostsDir, { recursive: true });
  const prev = await readRecord(paths);

  // Hosts beyond the requested count (a smaller lab, or leftovers) go first.
  for (const index of await knownHostIndexes(paths, prev)) {
    if (index > opts.hosts) {
      log(`removing host kl-h${index}`);
      await destroyHost(paths, index);
    }
  }

  await ensureClientKey(paths);
  // The probe result outlives lab down: the machine does not change between labs.
  let domainType = prev?.domainType ?? (await readDomainType(paths));
  if (opts.guest !== false) {
    log('building the test guest (scripts/guest/build.sh)');
    await ensureGuestTemplate(paths);
  }
  const requested =
    opts.domainType ?? (process.env.KLOUDAK_LAB_DOMAIN_TYPE as DomainType | 'auto' | undefined) ?? 'auto';
  if (requested !== 'auto') domainType = requested;
  else if (!domainType) {
    domainType = await detectDomainType(templatePaths(paths).localKernel, log);
    await writeFile(paths.domainTypeFile, `${domainType}\n`);
  }

  log('root-namespace bridges');
  await ensureRootNet();
  await ensureNsDir(paths);
  const indexes = Array.from({ length: opts.hosts }, (_, i) => i + 1);
  const one = (i: number) => {
    log(`host kl-h${i}: namespaces, libvirtd, ovs, sshd`);
    return ensureHost(paths, i);
  };
  // Without a capabilities cache yet, the first host probes QEMU alone and the others reuse its results.
  const first = existsSync(paths.capsCache) ? [] : [await one(1)];
  const hosts = [...first, ...(await Promise.all(indexes.slice(first.length).map(one)))];
  const knownHosts = await Promise.all(
    hosts.map(async (h) => `${h.ip} ${await hostPublicKey(hostHandle(paths, h.index))}\n`),
  );
  await writeFile(paths.knownHosts, knownHosts.join(''), { mode: 0o644 });

  // A cut host stays cut across a repair: failover tests decide when it comes back.
  const cut = (prev?.cut ?? []).filter((n) => hosts.some((h) => h.name === n));
  for (const h of hosts) if (cut.includes(h.name)) await setHostLinks(h.index, false);
  const rec: LabRecord = { version: 1, stateDir: paths.stateDir, domainType, hosts, cut };
  await writeRecord(paths, rec);
  log(`lab up: ${hosts.map((h) => `${h.name}=${h.ip}`).join(' ')} (domain type ${domainType})`);
  return labStatus(paths.stateDir);
}

/** Host indexes the record, the namespace list or the ns directory know of (leftovers of killed runs too). */
async function knownHostIndexes(paths: LabPaths, rec: LabRecord | undefined): Promise<number[]> {
  const set = new Set<number>(rec?.hosts.map((h) => h.index) ?? []);
  const take = (n: string) => {
    const m = /^kl-h(\d+)$/.exec(n);
    if (m) set.add(Number(m[1]));
  };
  for (const n of await netnsList()) take(n);
  if (existsSync(paths.nsDir)) for (const n of await readdir(paths.nsDir)) take(n);
  for (const l of await labRootLinks()) {
    const m = /^kl-[mpv](\d+)$/.exec(l);
    if (m) set.add(Number(m[1]));
  }
  return [...set].sort((a, b) => a - b);
}

export async function labDown(opts: { stateDir: string; log?: LabLog }): Promise<void> {
  const log = opts.log ?? (() => undefined);
  const paths = labPaths(opts.stateDir);
  const rec = await readRecord(paths);
  for (const index of await knownHostIndexes(paths, rec)) {
    log(`stopping host kl-h${index}`);
    await destroyHost(paths, index);
  }
  await removeRootNet();
  for (const l of await labRootLinks()) await tryRun('ip', ['link', 'del', 'dev', l]);
  // Namespace files of hosts no record or name pattern knew of, then the directory's own bind mount.
  for (const m of await mountsUnder(paths.nsDir)) await tryRun('umount', [m]);
  if (await isMountpoint(paths.nsDir)) await tryRun('umount', [paths.nsDir]);
  await rm(paths.nsDir, { recursive: true, force: true });
  // Host state (libvirt, OVS databases, host keys) starts afresh next time; key, guest and pool stay.
  await rm(paths.hostsDir, { recursive: true, force: true });
  await rm(paths.record, { force: true });
  await rm(paths.knownHosts, { force: true });
  log('lab down');
}

export async function labStatus(stateDir: string): Promise<LabStatus> {
  const paths = labPaths(stateDir);
  const rec = await readRecord(paths);
  const ssh = { user: 'root' as const, key: paths.key, knownHosts: paths.knownHosts };
  const domainType = rec?.domainType ?? 'qemu';
  const hosts: LabHostStatus[] = [];
  for (const h of rec?.hosts ?? []) {
    const handle = hostHandle(paths, h.index);
    const pids = daemonPids(await hostProcs(handle));
    const mountsComplete = (await missingBinds(handle)).length === 0;
    const daemonsRun = ['virtlogd', 'libvirtd', 'ovsdb-server', 'ovs-vswitchd', 'sshd'].every(
      (d) => pids[d] !== undefined,
    );
    hosts.push({
      name: h.name,
      ip: h.ip,
      uri: hostUri(paths, h.ip),
      ssh,
      pool: HOST_POOL_PATH,
      domainType,
      bridges: { public: NET.hostPublicBridge, private: NET.hostPrivateBridge },
      // A running libvirtd is not enough: one that hangs makes every later call on the host time out.
      healthy: mountsComplete && daemonsRun && (await libvirtdAnswers(handle)),
      cut: rec?.cut.includes(h.name) ?? false,
      pids,
    });
  }
  const t = templatePaths(paths);
  return {
    stateDir: paths.stateDir,
    up: rec !== undefined && hosts.length > 0 && hosts.every((h) => h.healthy),
    domainType,
    ssh,
    pool: { path: HOST_POOL_PATH, localPath: paths.pool },
    template: existsSync(t.localDisk)
      ? { name: t.name, kernel: t.kernel, initrd: t.initrd, disk: t.disk }
      : undefined,
    network: {
      mgmtBridge: NET.mgmtBridge,
      mgmtGateway: `${NET.mgmtPrefix}.1`,
      publicBridge: NET.publicBridge,
      publicSubnet: `${NET.publicPrefix}.0/24`,
      publicGateway: `${NET.publicPrefix}.1`,
      privateTrunk: NET.privateBridge,
    },
    hosts,
  };
}

async function setCut(stateDir: string, name: string, cut: boolean, scope: CutScope = 'all'): Promise<void> {
  const paths = labPaths(stateDir);
  const rec = await readRecord(paths);
  const host = rec?.hosts.find((h) => h.name === name);
  if (!rec || !host) throw new Error(`no lab host ${name} in ${paths.record}`);
  await setHostLinks(host.index, !cut, scope);
  if (!cut) await waitHostReachable(host.index);
  // A management-only cut is a blip a test makes and undoes itself: labUp does not keep it.
  if (scope === 'all' || !cut)
    rec.cut = cut ? [...new Set([...rec.cut, name])] : rec.cut.filter((n) => n !== name);
  await writeRecord(paths, rec);
}

/**
 * Cuts a host off the management, public and private networks (`scope` 'management': the management
 * network only, its guests still answer on the public one); its processes (and guests) keep running.
 */
export function labCutHost(stateDir: string, name: string, scope: CutScope = 'all'): Promise<void> {
  return setCut(stateDir, name, true, scope);
}

/** Plugs every cable of the host back in (whatever was cut) and returns once its sshd answers. */
export function labRestoreHost(stateDir: string, name: string): Promise<void> {
  return setCut(stateDir, name, false);
}
