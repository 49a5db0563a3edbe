// System test of the lab: two namespaced hypervisor hosts; a guest on each, started over libvirt's SSH
// transport (host keys verified), talking across hosts on VLAN 7 of the private trunk and over the public
// uplink; then a teardown that must leave nothing behind.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  labUp,
  labDown,
  labStatus,
  labCutHost,
  labRestoreHost,
  type LabStatus,
} from '../../src/lab/index.ts';
import { alive } from '../../src/lab/procs.ts';
import { LAB_DIR as STATE_DIR } from '../support/lab.ts';
import { createOverlay, guestDomainXml, randomMac, waitForSerial, writeSeedIso } from '../support/guest.ts';

const execFileP = promisify(execFile);
const VLAN = 7;

/** virsh with stdin closed: libssh asks on stdin whether to accept an unknown host key, which must fail, not hang. */
async function virsh(uri: string, ...args: string[]): Promise<string> {
  return virshT(60_000, uri, ...args);
}

async function virshT(timeout: number, uri: string, ...args: string[]): Promise<string> {
  const p = execFileP('virsh', ['-c', uri, ...args], { timeout });
  p.child.stdin?.end();
  return (await p).stdout;
}

interface Guest {
  name: string;
  uri: string;
  serial: string;
}

async function startGuest(
  lab: LabStatus,
  hostIndex: number,
  name: string,
  publicIp: string,
  privateIp: string,
  runcmd: string[] = [],
): Promise<Guest> {
  const host = lab.hosts[hostIndex];
  const t = lab.template!;
  // Same files, two views: local (this namespace) for writing, host paths for libvirt.
  const localDir = join(lab.pool.localPath, 'vms', name);
  const hostDir = `${lab.pool.path}/vms/${name}`;
  await mkdir(localDir, { recursive: true, mode: 0o755 });
  await createOverlay(
    join(localDir, 'disk.qcow2'),
    t.disk,
    join(lab.pool.localPath, t.disk.slice(lab.pool.path.length)),
  );
  const pub = randomMac();
  const priv = randomMac();
  await writeSeedIso(join(localDir, 'seed.iso'), {
    hostname: name,
    password: 'kloudak',
    interfaces: [
      { mac: pub, addresses: [`${publicIp}/24`], gateway: lab.network.publicGateway },
      { mac: priv, addresses: [`${privateIp}/24`] },
    ],
    runcmd,
  });
  const xmlPath = join(localDir, 'domain.xml');
  await writeFile(
    xmlPath,
    guestDomainXml({
      name,
      type: host.domainType,
      memoryMiB: 96,
      kernel: t.kernel,
      initrd: t.initrd,
      disk: `${hostDir}/disk.qcow2`,
      seedIso: `${hostDir}/seed.iso`,
      serialLog: `${hostDir}/serial.log`,
      nics: [
        { bridge: host.bridges.public, mac: pub },
        { bridge: host.bridges.private, mac: priv, vlan: VLAN },
      ],
    }),
  );
  await virsh(host.uri, 'define', xmlPath);
  await virsh(host.uri, 'start', name);
  return { name, uri: host.uri, serial: join(localDir, 'serial.log') };
}

async function removeGuest(g: Guest): Promise<void> {
  await virsh(g.uri, 'destroy', g.name).catch(() => undefined);
  await virsh(g.uri, 'undefine', g.name).catch(() => undefined);
}

async function labLeftovers(): Promise<string[]> {
  const found: string[] = [];
  const netns = (await execFileP('ip', ['netns', 'list'])).stdout;
  for (const l of netns.split('\n')) if (/^kl-h\d+/.test(l)) found.push(`netns ${l}`);
  const links = (await execFileP('ip', ['-o', 'link', 'show'])).stdout;
  for (const l of links.split('\n')) {
    const m = /^\d+: (kl-[^:@]+)/.exec(l);
    if (m) found.push(`link ${m[1]}`);
  }
  const mounts = await readFile('/proc/self/mountinfo', 'utf8');
  for (const l of mounts.split('\n'))
    if (l.split(' ')[4]?.startsWith(STATE_DIR)) found.push(`mount ${l.split(' ')[4]}`);
  for (const p of await readdir('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    const cmd = await readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes(STATE_DIR) || cmd.includes('guest=lab-g'))
      found.push(`process ${p} ${cmd.replace(/\0/g, ' ').slice(0, 120)}`);
  }
  return found;
}

const guests: Guest[] = [];
let downDone = false;
after(async () => {
  for (const g of guests) await removeGuest(g);
  if (!downDone) await labDown({ stateDir: STATE_DIR });
});

void test(
  'lab: two hosts, guests across hosts on a VLAN, clean teardown',
  { timeout: 600_000 },
  async (t) => {
    const log = (l: string) => t.diagnostic(l);
    const tUp = Date.now();
    let lab = await labUp({ hosts: 2, stateDir: STATE_DIR, log });
    log(`lab up took ${((Date.now() - tUp) / 1000).toFixed(1)} s`);
    assert.equal(lab.hosts.length, 2);
    assert.ok(lab.up, 'every host daemon runs');
    assert.ok(lab.template, 'the test guest is in the pool');

    // A second lab up repairs/keeps: same hosts, same daemons.
    const pidsBefore = lab.hosts.map((h) => h.pids.libvirtd);
    lab = await labUp({ hosts: 2, stateDir: STATE_DIR, log });
    assert.deepEqual(
      lab.hosts.map((h) => h.pids.libvirtd),
      pidsBefore,
    );

    // The URI verifies host keys: with an empty known_hosts the same connection is refused.
    const [h1, h2] = lab.hosts as [LabStatus['hosts'][0], LabStatus['hosts'][0]];
    assert.match(await virsh(h1.uri, 'list', '--all'), /Id\s+Name/);
    const emptyKnownHosts = join(STATE_DIR, 'empty_known_hosts');
    await writeFile(emptyKnownHosts, '');
    await assert.rejects(virsh(h1.uri.replace(lab.ssh.knownHosts, emptyKnownHosts), 'list'));
    log('host keys verified');

    const t0 = Date.now();
    const g1 = await startGuest(lab, 0, 'lab-g1', '10.213.1.21', '192.168.7.21');
    guests.push(g1);
    await waitForSerial(g1.serial, 'kloudak-guest up lab-g1 10.213.1.21', 90_000);
    log(`guest 1 up ${((Date.now() - t0) / 1000).toFixed(1)} s after define`);

    const t1 = Date.now();
    const g2 = await startGuest(lab, 1, 'lab-g2', '10.213.1.22', '192.168.7.22', [
      'ping -c 3 -W 2 192.168.7.21', // guest 1, private NIC, VLAN 7, other host: over the private trunk
      'ping -c 2 -W 2 10.213.1.21', // guest 1, public NIC: over the public uplinks
      'ping -c 1 -W 2 10.213.1.1', // the public gateway in the root namespace
    ]);
    guests.push(g2);
    const out = await waitForSerial(g2.serial, 'kloudak-guest up lab-g2 10.213.1.22', 90_000);
    log(`guest 2 up ${((Date.now() - t1) / 1000).toFixed(1)} s after define`);
    assert.match(out, /3 packets transmitted, [1-3] packets received/);
    assert.match(out, /kloudak-guest: runcmd 1 exit 0/);
    assert.match(out, /kloudak-guest: runcmd 2 exit 0/);
    assert.match(out, /kloudak-guest: runcmd 3 exit 0/);
    assert.match(out, /kloudak-guest: disk vda boots=1/);

    // Cutting a host makes it unreachable; restoring brings it back.
    await labCutHost(STATE_DIR, h2.name);
    assert.equal((await labStatus(STATE_DIR)).hosts[1].cut, true);
    await assert.rejects(virshT(8_000, h2.uri, 'list'));
    await labRestoreHost(STATE_DIR, h2.name);
    assert.match(await virsh(h2.uri, 'list'), /lab-g2/);

    log('host cut and restored');

    // A libvirtd that runs but no longer answers (stopped here) is not healthy, and lab up replaces it; the
    // guest it ran keeps running and the new libvirtd knows it.
    const hung = (await labStatus(STATE_DIR)).hosts[1].pids.libvirtd;
    process.kill(hung, 'SIGSTOP');
    assert.equal((await labStatus(STATE_DIR)).hosts[1].healthy, false, 'a hung libvirtd is not healthy');
    lab = await labUp({ hosts: 2, stateDir: STATE_DIR, log });
    assert.ok(lab.hosts[1].healthy);
    assert.notEqual(lab.hosts[1].pids.libvirtd, hung);
    assert.equal(alive(hung), false, 'the hung libvirtd is gone');
    assert.match(await virsh(h2.uri, 'list'), /lab-g2\s+running/);
    log('hung libvirtd replaced');

    const pids = [...lab.hosts.flatMap((h) => Object.values(h.pids))];
    for (const g of guests.splice(0)) await removeGuest(g);
    const t2 = Date.now();
    await labDown({ stateDir: STATE_DIR, log });
    log(`lab down took ${((Date.now() - t2) / 1000).toFixed(1)} s`);
    downDone = true;

    assert.deepEqual(pids.filter(alive), [], 'no lab daemon survives');
    assert.deepEqual(await labLeftovers(), [], 'no namespace, link, mount or process of the lab remains');
    assert.equal((await labStatus(STATE_DIR)).up, false);
  },
);
