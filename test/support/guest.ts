// Test-side helpers for the test guest (scripts/guest): NoCloud seed ISOs in the shape the guest accepts
// (scripts/guest/README.md), qcow2 overlays, domain XML, and waiting for lines on its serial log.
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';

const execFileP = promisify(execFile);
const run = async (cmd: string, args: string[], timeout = 60_000) =>
  (await execFileP(cmd, args, { timeout })).stdout;

export interface SeedInterface {
  mac: string;
  /** CIDR addresses, e.g. 10.213.1.21/24. */
  addresses: string[];
  gateway?: string;
  /** Interface name to set (set-name); the guest keeps the kernel's name otherwise. */
  name?: string;
}

export interface Seed {
  hostname: string;
  instanceId?: string;
  password?: string;
  /** Matched by MAC; the first is the public NIC whose address the guest reports. */
  interfaces: SeedInterface[];
  /** Shell lines, run in order by the guest's sh. */
  runcmd?: string[];
  /** root's authorized keys (ssh_authorized_keys). */
  sshAuthorizedKeys?: string[];
  /** ssh_pwauth: password logins over SSH (the guest allows them only with a password too). */
  sshPwauth?: boolean;
  /** More #cloud-config text appended as it is: a user's part of a merged document. */
  extraUserData?: string;
}

/** YAML double-quoted scalar: the only escapes the guest understands are \" and \\. */
const q = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

export function seedFiles(seed: Seed): {
  'meta-data': string;
  'user-data': string;
  'network-config': string;
} {
  const meta = `instance-id: ${q(seed.instanceId ?? seed.hostname)}\nlocal-hostname: ${q(seed.hostname)}\n`;
  let user = `#cloud-config\nhostname: ${q(seed.hostname)}\n`;
  if (seed.password !== undefined) user += `password: ${q(seed.password)}\nchpasswd: { expire: false }\n`;
  if (seed.sshPwauth !== undefined) user += `ssh_pwauth: ${seed.sshPwauth}\n`;
  if (seed.sshAuthorizedKeys?.length)
    user += `ssh_authorized_keys:\n${seed.sshAuthorizedKeys.map((k) => `  - ${q(k)}\n`).join('')}`;
  if (seed.runcmd?.length) user += `runcmd:\n${seed.runcmd.map((c) => `  - ${q(c)}\n`).join('')}`;
  if (seed.extraUserData)
    user += seed.extraUserData.endsWith('\n') ? seed.extraUserData : `${seed.extraUserData}\n`;
  let net = 'version: 2\nethernets:\n';
  seed.interfaces.forEach((i, n) => {
    net += `  nic${n}:\n    match:\n      macaddress: ${q(i.mac.toLowerCase())}\n`;
    if (i.name) net += `    set-name: ${q(i.name)}\n`;
    net += `    addresses:\n${i.addresses.map((a) => `      - ${a}\n`).join('')}`;
    if (i.gateway) net += `    gateway4: ${i.gateway}\n`;
  });
  return { 'meta-data': meta, 'user-data': user, 'network-config': net };
}

/** Writes a NoCloud seed ISO (volume label cidata) at isoPath. */
export async function writeSeedIso(isoPath: string, seed: Seed): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'kloudak-seed-'));
  try {
    const files = seedFiles(seed);
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
    await mkdir(dirname(isoPath), { recursive: true });
    await run('genisoimage', [
      '-quiet',
      '-output',
      isoPath,
      '-volid',
      'cidata',
      '-joliet',
      '-rock',
      join(dir, 'user-data'),
      join(dir, 'meta-data'),
      join(dir, 'network-config'),
    ]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * A qcow2 overlay at overlayPath (as this process sees it) whose backing file is backingHostPath (as the
 * hypervisor host sees it). -u: the host path may not exist here; the size comes from backingLocalPath.
 */
export async function createOverlay(
  overlayPath: string,
  backingHostPath: string,
  backingLocalPath: string,
): Promise<void> {
  const info = JSON.parse(await run('qemu-img', ['info', '--output=json', backingLocalPath])) as {
    'virtual-size': number;
  };
  await mkdir(dirname(overlayPath), { recursive: true, mode: 0o755 });
  await run('qemu-img', [
    'create',
    '-q',
    '-u',
    '-f',
    'qcow2',
    '-F',
    'qcow2',
    '-b',
    backingHostPath,
    overlayPath,
    String(info['virtual-size']),
  ]);
}

export function randomMac(): string {
  return `52:54:00:${[...randomBytes(3)].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
}

export interface GuestNic {
  bridge: string;
  mac: string;
  /** OVS VLAN tag; untagged when absent. */
  vlan?: number;
}

export interface GuestDomain {
  name: string;
  type: 'qemu' | 'kvm';
  memoryMiB: number;
  /** Default 1. */
  vcpus?: number;
  kernel: string;
  initrd: string;
  /** The qcow2 disk (vda); none: a diskless guest (no disk lease for libvirt's lock manager either). */
  disk?: string;
  seedIso: string;
  serialLog: string;
  /**
   * file (default): output only, to serialLog. pty: interactive (virsh console), its output also logged to
   * serialLog by libvirt.
   */
  serial?: 'file' | 'pty';
  nics: GuestNic[];
}

const x = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/'/g, '&apos;').replace(/"/g, '&quot;');

/** Libvirt domain XML of a test guest; all paths as the hypervisor host sees them. */
export function guestDomainXml(d: GuestDomain): string {
  // host csum off, as src/compute/domain.ts: Open vSwitch's userspace datapath forwards a frame whose checksum
  // the guest left to the NIC unfinished, and TCP to or from the guest never connects.
  const nics = d.nics
    .map(
      (n) => `    <interface type='bridge'>
      <mac address='${x(n.mac)}'/>
      <source bridge='${x(n.bridge)}'/>
      <virtualport type='openvswitch'/>${n.vlan !== undefined ? `\n      <vlan><tag id='${n.vlan}'/></vlan>` : ''}
      <model type='virtio'/>
      <driver><host csum='off'/></driver>
    </interface>`,
    )
    .join('\n');
  const serial =
    d.serial === 'pty'
      ? `    <serial type='pty'>
      <log file='${x(d.serialLog)}' append='on'/>
      <target port='0'/>
    </serial>`
      : `    <serial type='file'>
      <source path='${x(d.serialLog)}'/>
      <target port='0'/>
    </serial>`;
  // machine pc: the seed cdrom sits on IDE, which the guest's ata_piix module drives (the cloud kernel has no AHCI).
  return `<domain type='${d.type}'>
  <name>${x(d.name)}</name>
  <memory unit='MiB'>${d.memoryMiB}</memory>
  <vcpu>${d.vcpus ?? 1}</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>${x(d.kernel)}</kernel>
    <initrd>${x(d.initrd)}</initrd>
    <cmdline>console=ttyS0 panic=-1</cmdline>
  </os>
  <features><acpi/></features>
  <on_crash>destroy</on_crash>
  <devices>${
    d.disk === undefined
      ? ''
      : `
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='${x(d.disk)}'/>
      <target dev='vda' bus='virtio'/>
    </disk>`
  }
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='${x(d.seedIso)}'/>
      <target dev='hdc' bus='ide'/>
      <readonly/>
    </disk>
${nics}
${serial}
    <memballoon model='none'/>
  </devices>
</domain>
`;
}

/** Waits until the serial log has a line matching pattern; returns the whole log. Throws with its tail on timeout. */
export async function waitForSerial(
  logPath: string,
  pattern: RegExp | string,
  timeoutMs = 90_000,
): Promise<string> {
  const re =
    typeof pattern === 'string' ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : pattern;
  const deadline = Date.now() + timeoutMs;
  let text = '';
  for (;;) {
    text = await readFile(logPath, 'utf8').catch(() => '');
    if (text.split(/\r?\n/).some((l) => re.test(l))) return text;
    if (Date.now() > deadline) {
      throw new Error(
        `no line matching ${re} in ${logPath} after ${timeoutMs} ms; log tail:\n${text.slice(-2000)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The facts of the guest's last boot in a log: `kloudak-guest: cpus <n> mem_kib <MemTotal kB>`. */
export function guestFacts(log: string): { cpus: number; memKib: number } | undefined {
  const m = [...log.matchAll(/kloudak-guest: cpus (\d+) mem_kib (\d+)/g)].at(-1);
  return m ? { cpus: Number(m[1]), memKib: Number(m[2]) } : undefined;
}

/** The disk's boot count of the guest's last boot in a log (`kloudak-guest: disk vda boots=N`). */
export function bootCount(log: string): number | undefined {
  const m = [...log.matchAll(/kloudak-guest: disk vda boots=(\d+)/g)].at(-1);
  return m ? Number(m[1]) : undefined;
}

/** The last totals of `kloudak-pingcount <ip>` in a log (`kloudak-guest: ping <ip> sent=N received=M`). */
export function pingCounts(log: string, ip: string): { sent: number; received: number } | undefined {
  const re = new RegExp(`kloudak-guest: ping ${ip.replace(/\./g, '\\.')} sent=(\\d+) received=(\\d+)`, 'g');
  const m = [...log.matchAll(re)].at(-1);
  return m ? { sent: Number(m[1]), received: Number(m[2]) } : undefined;
}

/** An interactive serial console: `virsh console` in a pseudo-terminal (virsh refuses to run without one). */
export interface ConsoleSession {
  /** Types text (use \r for Enter, \x1d to leave). */
  send(text: string): void;
  /** Waits for pattern in the output after the previous match; answers the output up to the match's end. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Everything the console printed so far. */
  output(): string;
  /** Leaves the console (Ctrl-]) and waits for virsh to exit. */
  close(): Promise<void>;
}

// python3's pty.spawn relays our pipes to a program in a new pseudo-terminal; arguments stay an array.
const PTY_RELAY = 'import pty, sys\nsys.exit(pty.spawn(sys.argv[1:]) >> 8)';

/**
 * Connects to a domain's console (`virsh console --force`, which takes it from any other session); resolves
 * once virsh has made its terminal raw: what is typed before that is flushed.
 */
export async function openConsole(uri: string, domain: string): Promise<ConsoleSession> {
  const child = spawn('python3', ['-c', PTY_RELAY, 'virsh', '-c', uri, 'console', '--force', domain], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let mark = 0;
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.on('exit', () => {
      exited = true;
      resolve();
    }),
  );
  child.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
  child.stderr.on('data', (b: Buffer) => (out += b.toString('utf8')));
  const session: ConsoleSession = {
    send: (text) => {
      if (!exited) child.stdin.write(text);
    },
    output: () => out,
    async waitFor(pattern, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = new RegExp(pattern.source, pattern.flags.replace('g', '')).exec(out.slice(mark));
        if (m) {
          mark += m.index + m[0].length;
          return out.slice(0, mark);
        }
        if (exited || Date.now() > deadline)
          throw new Error(`console: no ${pattern} after ${timeoutMs} ms; output tail:\n${out.slice(-1500)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async close() {
      if (!exited) child.stdin.write('\x1d');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exit;
      clearTimeout(timer);
    },
  };
  try {
    // virsh prints this banner, then switches the terminal to raw mode (flushing pending input).
    await session.waitFor(/Escape character is/, 60_000);
  } catch (e) {
    await session.close();
    throw e;
  }
  await new Promise((r) => setTimeout(r, 1000));
  return session;
}

export interface SshResult {
  ok: boolean;
  stdout: string;
  stderr: string;
}

/**
 * Runs command as root on a guest over SSH (dropbear in the guest), with a key file or a password (given to
 * ssh through SSH_ASKPASS, never on a command line). Host keys are not checked: every boot makes a new one.
 */
export async function guestSsh(
  ip: string,
  command: string,
  auth: { key: string } | { password: string },
  timeoutMs = 30_000,
): Promise<SshResult> {
  const args = ['-F', '/dev/null', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null'];
  args.push('-o', 'ConnectTimeout=10', '-o', 'ServerAliveInterval=5', '-v');
  const env: NodeJS.ProcessEnv = { ...process.env };
  let dir: string | undefined;
  if ('key' in auth) {
    args.push('-i', auth.key, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes');
    args.push('-o', 'PasswordAuthentication=no');
  } else {
    dir = await mkdtemp(join(tmpdir(), 'kloudak-askpass-'));
    const askpass = join(dir, 'askpass');
    await writeFile(askpass, '#!/bin/sh\nprintf "%s\\n" "$KLOUDAK_TEST_SSH_PASSWORD"\n');
    await chmod(askpass, 0o700);
    Object.assign(env, {
      SSH_ASKPASS: askpass,
      SSH_ASKPASS_REQUIRE: 'force',
      KLOUDAK_TEST_SSH_PASSWORD: auth.password,
    });
    args.push('-o', 'PubkeyAuthentication=no', '-o', 'PreferredAuthentications=password');
    args.push('-o', 'NumberOfPasswordPrompts=1');
  }
  args.push(`root@${ip}`, command);
  try {
    const p = execFileP('ssh', args, { timeout: timeoutMs, env });
    p.child.stdin?.end();
    const r = await p;
    return { ok: true, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    return { ok: false, stdout: err.stdout ?? '', stderr: err.stderr ?? err.message };
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}
