// One lab hypervisor host: a network namespace plus a persistent mount namespace (bind-mounted onto a file
// under <stateDir>/ns, so later commands can enter it), private /run and libvirt/OVS state directories,
// the shared pool at HOST_POOL_PATH, and virtlogd, libvirtd, Open vSwitch and sshd running inside.
import { appendFile, chmod, copyFile, mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { run, tryRun, runIn, tryRunIn, runDaemon, nsenterArgs, utsNsFile, waitFor } from './exec.ts';
import { alive, pidsInNamespaces, procInfo, nsInode, killAll, type ProcInfo } from './procs.ts';
import { ensureHostLinks, removeHostLinks, HOST_IFACES } from './net.ts';
import {
  NET,
  HOST_POOL_PATH,
  hostDir,
  hostIp,
  hostLinks,
  hostName,
  mntNsFile,
  type LabHostRecord,
  type LabPaths,
} from './state.ts';

/** Per-host directories bind-mounted over the system paths the daemons write to. */
const BINDS: [string, string][] = [
  ['lib-libvirt', '/var/lib/libvirt'],
  ['log-libvirt', '/var/log/libvirt'],
  ['etc-libvirt', '/etc/libvirt'],
  ['cache-libvirt', '/var/cache/libvirt'],
  ['etc-ovs', '/etc/openvswitch'],
  ['lib-ovs', '/var/lib/openvswitch'],
  ['log-ovs', '/var/log/openvswitch'],
  // root's authorized_keys at the usual place: sshd's StrictModes rejects files under a world-writable
  // directory such as /tmp, where a test's stateDir may live.
  ['root-ssh', '/root/.ssh'],
  // A file: root's shell startup, which sshd runs before every command. The machine's own may start pyenv
  // and the like (seen: pyenv's rehash, ~0.5 s a command and one lock for all, 39 s each under a test's load:
  // virsh over SSH timed out and hosts were failed over). A hypervisor host's root has none of that.
  ['root-bashrc', '/root/.bashrc'],
];
const FILE_BINDS = new Set(['root-bashrc']);
const ROOT_BASHRC = '# A kloudak lab host: commands come over SSH and need no interactive setup.\n';
const OVS_CTL = '/usr/share/openvswitch/scripts/ovs-ctl';

export async function isMountpoint(path: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  // Field 5 is the mount point, with spaces etc. octal-escaped.
  const esc = path.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  return info.split('\n').some((l) => l.split(' ')[4] === esc);
}

/** Mount points strictly below dir, deepest first. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const unesc = (p: string) =>
    p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return info
    .split('\n')
    .map((l) => unesc(l.split(' ')[4] ?? ''))
    .filter((p) => p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/** <stateDir>/ns must be a private mount: the kernel refuses mount-namespace files on shared mounts. */
export async function ensureNsDir(paths: LabPaths): Promise<void> {
  await mkdir(paths.nsDir, { recursive: true });
  if (!(await isMountpoint(paths.nsDir))) await run('mount', ['--bind', paths.nsDir, paths.nsDir]);
  await run('mount', ['--make-private', paths.nsDir]);
}

export interface HostHandle {
  index: number;
  name: string;
  netns: string;
  nsFile: string;
  dir: string;
}

export function hostHandle(paths: LabPaths, index: number): HostHandle {
  const name = hostName(index);
  return { index, name, netns: name, nsFile: mntNsFile(paths, name), dir: hostDir(paths, name) };
}

async function prepareHostDirs(h: HostHandle): Promise<void> {
  for (const [sub] of BINDS)
    if (FILE_BINDS.has(sub)) await writeFile(join(h.dir, sub), ROOT_BASHRC);
    else await mkdir(join(h.dir, sub), { recursive: true });
  await chmod(join(h.dir, 'root-ssh'), 0o700);
  await mkdir(join(h.dir, 'ssh'), { recursive: true, mode: 0o700 });
  const etc = join(h.dir, 'etc-libvirt');
  if (!existsSync(join(etc, 'qemu.conf'))) {
    // Only the daemons' config files: domains, networks and autostart links of the machine stay out.
    for (const f of await readdir('/etc/libvirt'))
      if (f.endsWith('.conf')) await copyFile(join('/etc/libvirt', f), join(etc, f));
    // qemu as root: /dev/kvm is root-only here, and libvirt probing as libvirt-qemu finds KVM "usable" at
    // probe time but not at lookup, so it re-probes QEMU (seconds) on every call. Shared pools (NFS in real
    // life) take no ownership xattrs, and two hosts must not fight over them either.
    await appendFile(
      join(etc, 'qemu.conf'),
      '\n# kloudak lab\nuser = "root"\ngroup = "root"\nremember_owner = 0\n',
    );
  }
  await ensureLockManagerConfig(etc);
  for (const [sub, target] of BINDS)
    if (existsSync(target)) continue;
    else if (FILE_BINDS.has(sub)) await writeFile(target, '');
    else await mkdir(target, { recursive: true, mode: 0o700 });
  await mkdir(HOST_POOL_PATH, { recursive: true });
}

// libvirt's lock manager (issue 6): virtlockd takes a lease per disk in a directory on the shared pool, so
// two hosts never run domains on the same disk at once, even in a split brain. Added to an existing host's
// config too (a lab created before it); ensureDaemons restarts a libvirtd started without it.
export const LEASES_DIR = '.leases';
const LOCKD_CONF = `auto_disk_leases = 1\nrequire_lease_for_disks = 1\nfile_lockspace_dir = "${HOST_POOL_PATH}/${LEASES_DIR}"\n`;

async function ensureLockManagerConfig(etc: string): Promise<void> {
  const qemuConf = join(etc, 'qemu.conf');
  if (!/^lock_manager\s*=\s*"lockd"/m.test(await readFile(qemuConf, 'utf8')))
    await appendFile(qemuConf, 'lock_manager = "lockd"\n');
  if ((await readFile(join(etc, 'qemu-lockd.conf'), 'utf8').catch(() => '')) !== LOCKD_CONF)
    await writeFile(join(etc, 'qemu-lockd.conf'), LOCKD_CONF);
}

/** The host directories not bind-mounted in its mount namespace (all of them when there is none). */
export async function missingBinds(h: HostHandle): Promise<[string, string][]> {
  let info: string;
  try {
    info = await run('nsenter', [`--mount=${h.nsFile}`, '--', 'cat', '/proc/self/mountinfo']);
  } catch {
    return BINDS;
  }
  const mounted = new Set(info.split('\n').map((l) => l.split(' ')[4]));
  return BINDS.filter(([, target]) => !mounted.has(target));
}

/** Creates the host's namespaces and mounts unless they exist (a lab up on a running lab keeps them). */
export async function ensureNamespaces(paths: LabPaths, h: HostHandle): Promise<void> {
  await prepareHostDirs(h);
  await mkdir(join(paths.pool, LEASES_DIR), { recursive: true, mode: 0o700 });
  if (!(await tryRun('ip', ['netns', 'exec', h.netns, 'true']))) {
    await tryRun('ip', ['netns', 'del', h.netns]);
    await run('ip', ['netns', 'add', h.netns]);
  }
  const uts = utsNsFile(h.nsFile);
  if (!(await isMountpoint(uts))) {
    // Its own hostname, as a real host has (libvirt and OVS report it).
    await writeFile(uts, '');
    await run('unshare', [`--uts=${uts}`, 'hostname', h.name]);
  }
  const inNs = (cmd: string, args: string[]) => run('nsenter', [`--mount=${h.nsFile}`, '--', cmd, ...args]);
  // libvirt locks a pty console's device with a file in /var/lock (/run/lock): without it, virsh console fails.
  const lockDir = ['-p', '-m', '1777', '/run/lock'];
  if (await isMountpoint(h.nsFile)) {
    // A namespace made by an older version may lack a bind added since (root-ssh once): add what is missing.
    for (const [sub, target] of await missingBinds(h))
      await inNs('mount', ['--bind', join(h.dir, sub), target]);
    await inNs('mkdir', lockDir);
    return;
  }
  await writeFile(h.nsFile, '');
  await run('unshare', [`--mount=${h.nsFile}`, '--propagation', 'private', 'true']);
  // Other hosts' namespace files were copied in: drop them, so no host pins another's namespace.
  await tryRun('nsenter', [`--mount=${h.nsFile}`, '--', 'umount', '-l', paths.nsDir]);
  await inNs('mount', ['-t', 'tmpfs', '-o', 'mode=755', 'lab-run', '/run']);
  for (const [sub, target] of BINDS) await inNs('mount', ['--bind', join(h.dir, sub), target]);
  await inNs('mount', ['--bind', paths.pool, HOST_POOL_PATH]);
  await inNs('mkdir', ['-p', '/run/sshd', '/run/openvswitch', '/run/libvirt', '/var/run/openvswitch']);
  await inNs('mkdir', lockDir);
}

export async function hostProcs(h: HostHandle): Promise<ProcInfo[]> {
  const pids = await pidsInNamespaces(await nsInode(`/run/netns/${h.netns}`), await nsInode(h.nsFile));
  return procInfo(pids);
}

/** Pids of the host's daemons (the sshd listener, not its sessions). */
export function daemonPids(procs: ProcInfo[]): Record<string, number> {
  const out: Record<string, number> = {};
  const byPid = new Map(procs.map((p) => [p.pid, p]));
  for (const p of procs) {
    if (['virtlogd', 'virtlockd', 'libvirtd', 'ovsdb-server', 'ovs-vswitchd'].includes(p.comm))
      out[p.comm] = p.pid;
    if (p.comm === 'sshd' && byPid.get(p.ppid)?.comm !== 'sshd') out.sshd = p.pid;
  }
  return out;
}

async function ensureHostKey(h: HostHandle): Promise<string> {
  const key = join(h.dir, 'ssh', 'ssh_host_ed25519_key');
  if (!existsSync(key)) await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', h.name, '-f', key]);
  return key;
}

/** The host's public host key line (type and base64), for known_hosts. */
export async function hostPublicKey(h: HostHandle): Promise<string> {
  const pub = await readFile(`${await ensureHostKey(h)}.pub`, 'utf8');
  return pub.trim().split(/\s+/).slice(0, 2).join(' ');
}

/** Starts whatever of the host's daemons is not running, then its bridges and trunk ports. */
export async function ensureDaemons(paths: LabPaths, h: HostHandle): Promise<Record<string, number>> {
  const ns = nsenterArgs(h.nsFile, h.netns);
  const running = daemonPids(await hostProcs(h));
  const ip = hostIp(h.index);

  if (!running.virtlogd) await runDaemon('nsenter', [...ns, 'virtlogd', '-d']);
  if (!running.virtlockd) {
    await runDaemon('nsenter', [...ns, 'virtlockd', '-d']);
    // A libvirtd started before virtlockd runs without the lock manager: restart it (guests keep running).
    if (running.libvirtd) {
      await stopLibvirtd(h, running.libvirtd, 'SIGTERM');
      delete running.libvirtd;
    }
  }
  if (!running.libvirtd) await startLibvirtd(paths, h);
  if (!running['ovs-vswitchd'] || !running['ovsdb-server']) {
    await runDaemon(
      'nsenter',
      [...ns, OVS_CTL, 'start', '--system-id=random', '--no-mlockall', '--no-record-hostname'],
      90_000,
    );
  }
  const vsctl = (args: string[]) =>
    runIn(h.nsFile, h.netns, 'ovs-vsctl', ['--timeout=20', ...args], { timeoutMs: 30_000 });
  for (const [br, uplink] of [
    [NET.hostPublicBridge, HOST_IFACES.public],
    [NET.hostPrivateBridge, HOST_IFACES.private],
  ] as const) {
    await vsctl(['--may-exist', 'add-br', br, '--', 'set', 'bridge', br, 'datapath_type=netdev']);
    // No tag and no trunks list: the uplink carries every VLAN, tagged, to the root-side bridge.
    await vsctl(['--may-exist', 'add-port', br, uplink]);
    await tryRunIn(h.nsFile, h.netns, 'ip', ['link', 'set', 'dev', br, 'up']);
  }

  if (!running.sshd) {
    const authorized = join(h.dir, 'root-ssh', 'authorized_keys');
    await writeFile(authorized, await readFile(`${paths.key}.pub`, 'utf8'), { mode: 0o600 });
    const hostKey = await ensureHostKey(h);
    await runDaemon('nsenter', [
      ...ns,
      '/usr/sbin/sshd',
      '-h',
      hostKey,
      '-o',
      `ListenAddress=${ip}`,
      '-o',
      'PidFile=/run/sshd.pid',
      '-o',
      'PermitRootLogin=prohibit-password',
      '-o',
      'PasswordAuthentication=no',
      '-o',
      'KbdInteractiveAuthentication=no',
      '-o',
      'UseDNS=no',
    ]);
  }
  // A libvirtd just started may be probing QEMU; one that ran before answers at once or is hung.
  await ensureLibvirtdAnswers(paths, h, running.libvirtd ? 0 : 60_000);
  await saveCapsCache(paths, h);
  return daemonPids(await hostProcs(h));
}

/** Whether the host's libvirtd answers a client within 10 s. */
export function libvirtdAnswers(h: HostHandle): Promise<boolean> {
  return tryRunIn(h.nsFile, h.netns, 'virsh', ['-c', 'qemu:///system', 'version'], { timeoutMs: 10_000 });
}

/**
 * Waits up to patienceMs for libvirtd to answer. One that runs but does not (a lab reused after a fault) is
 * killed and started once more, its guests keep running; if it still does not answer, the error carries the
 * end of its log.
 */
async function ensureLibvirtdAnswers(paths: LabPaths, h: HostHandle, patienceMs: number): Promise<void> {
  const answered = (ms: number) =>
    waitFor(`libvirtd of ${h.name}`, async () => ((await libvirtdAnswers(h)) ? true : undefined), ms, 300)
      .then(() => true)
      .catch(() => false);
  if (await answered(patienceMs)) return;
  const pid = daemonPids(await hostProcs(h)).libvirtd;
  if (pid !== undefined) await stopLibvirtd(h, pid, 'SIGKILL');
  await startLibvirtd(paths, h);
  if (await answered(60_000)) return;
  const log = await readFile(join(h.dir, 'log-libvirt', 'libvirtd.log'), 'utf8').catch(() => '');
  const now = daemonPids(await hostProcs(h)).libvirtd;
  throw new Error(
    `libvirtd of ${h.name} ${now ? `runs (pid ${now}) but does not answer` : 'is not running'} after a restart; ` +
      `the end of its log:\n${log.split('\n').slice(-20).join('\n')}`,
  );
}

/** Starts the host's libvirtd with the lab's QEMU capabilities (seedCapsCache). */
async function startLibvirtd(paths: LabPaths, h: HostHandle): Promise<void> {
  await seedCapsCache(paths, h);
  await runDaemon('nsenter', [...nsenterArgs(h.nsFile, h.netns), 'libvirtd', '-d']);
}

/** Ends the host's libvirtd (its guests keep running): SIGTERM to let it close cleanly, SIGKILL for a hung one. */
async function stopLibvirtd(h: HostHandle, pid: number, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  process.kill(pid, signal);
  await waitFor(
    `libvirtd ${pid} of ${h.name} to end`,
    async () => (alive(pid) ? undefined : true),
    30_000,
    200,
  );
}

// libvirtd probes every QEMU binary at first start (many seconds of TCG on two cores, per host). The probe
// results are the same for every host of this machine, so the lab keeps one copy (surviving lab down) and
// seeds each host's cache with it; libvirt still validates each entry (binary ctime, libvirt version).
const CAPS = join('qemu', 'capabilities');

async function seedCapsCache(paths: LabPaths, h: HostHandle): Promise<void> {
  const from = join(paths.capsCache, CAPS);
  if (!existsSync(from)) return;
  const to = join(h.dir, 'cache-libvirt', CAPS);
  await mkdir(to, { recursive: true });
  for (const f of await readdir(from))
    if (!existsSync(join(to, f))) await copyFile(join(from, f), join(to, f));
}

async function saveCapsCache(paths: LabPaths, h: HostHandle): Promise<void> {
  const from = join(h.dir, 'cache-libvirt', CAPS);
  const to = join(paths.capsCache, CAPS);
  if (!existsSync(from)) return;
  await mkdir(to, { recursive: true });
  for (const f of await readdir(from)) {
    if (existsSync(join(to, f))) continue;
    await copyFile(join(from, f), join(to, `${f}.tmp`));
    await rename(join(to, `${f}.tmp`), join(to, f));
  }
}

export async function ensureHost(paths: LabPaths, index: number): Promise<LabHostRecord> {
  const h = hostHandle(paths, index);
  await ensureNamespaces(paths, h);
  await ensureHostLinks(index, h.netns);
  const pids = await ensureDaemons(paths, h);
  return { name: h.name, index, ip: hostIp(index), netns: h.netns, pids, links: hostLinks(index) };
}

/** Ends every process of the host, then removes its namespaces and links. Tolerates any leftover state. */
export async function destroyHost(paths: LabPaths, index: number): Promise<void> {
  const h = hostHandle(paths, index);
  const netIno = await nsInode(`/run/netns/${h.netns}`);
  const mntIno = (await isMountpoint(h.nsFile)) ? await nsInode(h.nsFile) : undefined;
  await killAll(await pidsInNamespaces(netIno, mntIno));
  for (const f of [h.nsFile, utsNsFile(h.nsFile)]) if (await isMountpoint(f)) await run('umount', [f]);
  await tryRun('ip', ['netns', 'del', h.netns]);
  await removeHostLinks(index);
}
