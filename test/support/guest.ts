// Test-side helpers for the test guest (scripts/guest): NoCloud seed ISOs in the shape the guest accepts
// (scripts/guest/README.md), qcow2 overlays, domain XML, and waiting for lines on its serial log.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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
  if (seed.runcmd?.length) user += `runcmd:\n${seed.runcmd.map((c) => `  - ${q(c)}\n`).join('')}`;
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
  kernel: string;
  initrd: string;
  disk: string;
  seedIso: string;
  serialLog: string;
  nics: GuestNic[];
}

const x = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/'/g, '&apos;').replace(/"/g, '&quot;');

/** Libvirt domain XML of a test guest; all paths as the hypervisor host sees them. */
export function guestDomainXml(d: GuestDomain): string {
  const nics = d.nics
    .map(
      (n) => `    <interface type='bridge'>
      <mac address='${x(n.mac)}'/>
      <source bridge='${x(n.bridge)}'/>
      <virtualport type='openvswitch'/>${n.vlan !== undefined ? `\n      <vlan><tag id='${n.vlan}'/></vlan>` : ''}
      <model type='virtio'/>
    </interface>`,
    )
    .join('\n');
  // machine pc: the seed cdrom sits on IDE, which the guest's ata_piix module drives (the cloud kernel has no AHCI).
  return `<domain type='${d.type}'>
  <name>${x(d.name)}</name>
  <memory unit='MiB'>${d.memoryMiB}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>${x(d.kernel)}</kernel>
    <initrd>${x(d.initrd)}</initrd>
    <cmdline>console=ttyS0 panic=-1</cmdline>
  </os>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='${x(d.disk)}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='${x(d.seedIso)}'/>
      <target dev='hdc' bus='ide'/>
      <readonly/>
    </disk>
${nics}
    <serial type='file'>
      <source path='${x(d.serialLog)}'/>
      <target port='0'/>
    </serial>
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
