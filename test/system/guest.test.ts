// System test of the test guest (scripts/guest), with raw libvirt on the lab: what the system tests of power,
// console, SSH keys, resize, live migration and firewalls stand on. Two real guests: ACPI shutdown and
// reboot, Ctrl-Alt-Del, a login on the serial console, SSH with a key and (only when allowed) a password,
// user-data merged with parts the guest skips, facts, a ping counter, a TCP listener. The YAML subset on its
// own: test/guest/cloud-config.test.ts.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { connect } from 'node:net';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LabStatus } from '../../src/lab/index.ts';
import { ensureLab } from '../support/lab.ts';
import {
  bootCount,
  createOverlay,
  guestDomainXml,
  guestFacts,
  guestSsh,
  openConsole,
  pingCounts,
  randomMac,
  waitForSerial,
  writeSeedIso,
  type Seed,
} from '../support/guest.ts';

const execFileP = promisify(execFile);

const PASSWORD = 'kl-Pw 42';
const A = { name: 'guest-test-a', ip: '10.213.1.41' };
const B = { name: 'guest-test-b', ip: '10.213.1.42' };

interface Guest {
  name: string;
  uri: string;
  ip: string;
  serial: string;
  dir: string;
}

async function virsh(uri: string, ...args: string[]): Promise<string> {
  const p = execFileP('virsh', ['-c', uri, ...args], { timeout: 60_000 });
  p.child.stdin?.end();
  return (await p).stdout;
}

async function startGuest(
  lab: LabStatus,
  hostIndex: number,
  g: { name: string; ip: string },
  opts: {
    memoryMiB: number;
    vcpus: number;
    serial: 'file' | 'pty';
    /** Without the template disk: libvirt's lock manager then holds no disk lease for it. */
    diskless?: boolean;
    seed: Omit<Seed, 'interfaces' | 'hostname'>;
  },
): Promise<Guest> {
  const host = lab.hosts[hostIndex];
  const t = lab.template!;
  const dir = join(lab.pool.localPath, 'vms', g.name);
  const hostDir = `${lab.pool.path}/vms/${g.name}`;
  await virsh(host.uri, 'destroy', g.name).catch(() => undefined);
  await virsh(host.uri, 'undefine', g.name).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o755 });
  if (!opts.diskless)
    await createOverlay(
      join(dir, 'disk.qcow2'),
      t.disk,
      join(lab.pool.localPath, t.disk.slice(lab.pool.path.length)),
    );
  const mac = randomMac();
  await writeSeedIso(join(dir, 'seed.iso'), {
    ...opts.seed,
    hostname: g.name,
    interfaces: [{ mac, addresses: [`${g.ip}/24`], gateway: lab.network.publicGateway }],
  });
  const xmlPath = join(dir, 'domain.xml');
  await writeFile(
    xmlPath,
    guestDomainXml({
      name: g.name,
      type: host.domainType,
      memoryMiB: opts.memoryMiB,
      vcpus: opts.vcpus,
      kernel: t.kernel,
      initrd: t.initrd,
      disk: opts.diskless ? undefined : `${hostDir}/disk.qcow2`,
      seedIso: `${hostDir}/seed.iso`,
      serialLog: `${hostDir}/serial.log`,
      serial: opts.serial,
      nics: [{ bridge: host.bridges.public, mac }],
    }),
  );
  await virsh(host.uri, 'define', xmlPath);
  await virsh(host.uri, 'start', g.name);
  return { name: g.name, uri: host.uri, ip: g.ip, serial: join(dir, 'serial.log'), dir };
}

const log = (g: Guest) => readFile(g.serial, 'utf8').catch(() => '');
const upLine = (g: Guest) => `kloudak-guest up ${g.name} ${g.ip}`;

/** Retries an SSH command while the guest's network and sshd come up; answers the last result. */
async function sshUntil(
  ip: string,
  command: string,
  auth: Parameters<typeof guestSsh>[2],
  done: (r: Awaited<ReturnType<typeof guestSsh>>) => boolean,
): Promise<Awaited<ReturnType<typeof guestSsh>>> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const r = await guestSsh(ip, command, auth);
    if (done(r) || Date.now() > deadline) return r;
    await new Promise((res) => setTimeout(res, 1000));
  }
}

/** Everything a TCP server at ip:port sends before it closes. */
function tcpRead(ip: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    const s = connect({ host: ip, port, timeout: 10_000 });
    s.on('data', (b) => (data += b.toString('utf8')));
    s.on('timeout', () => s.destroy(new Error(`no answer from ${ip}:${port}`)));
    s.on('error', reject);
    s.on('close', (hadError) => {
      if (!hadError) resolve(data);
    });
  });
}

/** Waits until text occurs n times in the guest's log; answers the log. */
async function waitForCount(g: Guest, text: string, n: number, timeoutMs = 90_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const out = await log(g);
    if (out.split(text).length - 1 >= n) return out;
    if (Date.now() > deadline)
      throw new Error(`${g.name}: "${text}" not ${n} times; tail:\n${out.slice(-1500)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function domState(g: Guest): Promise<string> {
  return (await virsh(g.uri, 'domstate', g.name)).trim();
}

void describe('the test guest on the lab', { timeout: 900_000 }, () => {
  let lab: LabStatus;
  let keyDir: string;
  let key: string;
  let pub: string;
  let a: Guest;
  let b: Guest;
  const guests: Guest[] = [];

  before(async () => {
    lab = await ensureLab(2);
    keyDir = await mkdtemp(join(tmpdir(), 'kloudak-guest-key-'));
    key = join(keyDir, 'id_ed25519');
    await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'guest-test', '-f', key]);
    pub = (await readFile(`${key}.pub`, 'utf8')).trim();
    // A: the platform's keys plus a user's part it must skip (nested keys, a block scalar that looks like
    // runcmd), lists in flow and block style; pty console; password SSH off.
    const userPart = `# the user's part
users:
  - name: alice
    ssh_authorized_keys: [ssh-ed25519 AAAAnested alice@x]
write_files:
  - path: /etc/motd
    content: |
      runcmd:
        - echo NOT-A-COMMAND
packages: [curl, vim]
bootcmd:
  - echo boot-$((40+2))
runcmd: [kloudak-pingcount ${lab.network.publicGateway}, "kloudak-listen 7777 hello-from-a", [sh, -c, "echo list-$((6*7))"]]
final_message: "done"
`;
    [a, b] = await Promise.all([
      startGuest(lab, 0, A, {
        memoryMiB: 96,
        vcpus: 1,
        serial: 'pty',
        seed: { password: PASSWORD, sshPwauth: false, sshAuthorizedKeys: [pub], extraUserData: userPart },
      }),
      // B: today's output-only file console, more memory and CPUs, password SSH on, its key in flow style.
      startGuest(lab, 1, B, {
        memoryMiB: 128,
        diskless: true,
        vcpus: 2,
        serial: 'file',
        seed: { password: PASSWORD, sshPwauth: true, extraUserData: `ssh_authorized_keys: ["${pub}"]\n` },
      }),
    ]);
    guests.push(a, b);
    await Promise.all([waitForSerial(a.serial, upLine(a)), waitForSerial(b.serial, upLine(b))]);
  });

  after(async () => {
    for (const g of guests) {
      await virsh(g.uri, 'destroy', g.name).catch(() => undefined);
      await virsh(g.uri, 'undefine', g.name).catch(() => undefined);
      await rm(g.dir, { recursive: true, force: true });
    }
    if (keyDir) await rm(keyDir, { recursive: true, force: true });
  });

  void test('boot: facts follow the domain, user-data applied and its unknown parts skipped', async () => {
    const la = await log(a);
    const lb = await log(b);
    const fa = guestFacts(la);
    const fb = guestFacts(lb);
    assert.equal(fa?.cpus, 1);
    assert.equal(fb?.cpus, 2);
    // MemTotal is the domain's memory less what the kernel keeps: 32 MiB more memory, about 32 MiB more.
    assert.ok(fa && fa.memKib > 50_000 && fa.memKib < 96 * 1024, `A mem_kib ${fa?.memKib}`);
    assert.ok(fb && fb.memKib - fa.memKib > 30_000 && fb.memKib < 128 * 1024, `B mem_kib ${fb?.memKib}`);
    assert.equal(bootCount(la), 1);
    assert.match(la, /kloudak-guest: bootcmd 1: echo boot-\$\(\(40\+2\)\)\r?\nboot-42\r?\n/);
    assert.match(la, /kloudak-guest: runcmd 3: sh -c 'echo list-\$\(\(6\*7\)\)'\r?\nlist-42\r?\n/);
    assert.match(la, /kloudak-guest: runcmd 2 exit 0/);
    assert.doesNotMatch(la, /NOT-A-COMMAND/);
    assert.match(la, /kloudak-guest: ssh on port 22: 1 keys, password login off/);
    assert.match(lb, /kloudak-guest: ssh on port 22: 1 keys, password login on/);
  });

  void test('serial console: a login through virsh console on a pty, the output in the log, a new login after exit', async () => {
    const c = await openConsole(a.uri, a.name);
    try {
      // The prompt was printed before we came: Enter asks getty for a new one.
      c.send('\r');
      await c.waitFor(/guest-test-a login: /);
      c.send('root\r');
      await c.waitFor(/Password: /);
      c.send('wrong\r');
      await c.waitFor(/Login incorrect/);
      await c.waitFor(/guest-test-a login: /);
      c.send('root\r');
      await c.waitFor(/Password: /);
      c.send(`${PASSWORD}\r`);
      await c.waitFor(/guest-test-a:~# /);
      c.send('echo console-$((6*7)) $(hostname) $(tty)\r');
      await c.waitFor(/console-42 guest-test-a \/dev\/ttyS0/);
      c.send('exit\r');
      await c.waitFor(/guest-test-a login: /);
    } finally {
      await c.close();
    }
    // What the console showed, libvirt logged: the command's output, and the login that came back.
    const out = await waitForSerial(a.serial, /console-42 guest-test-a \/dev\/ttyS0/, 10_000);
    assert.match(out.slice(out.lastIndexOf('console-42')), /guest-test-a login: /);
  });

  void test('a file console (output only) still gets the login prompt after the up line', async () => {
    const out = await waitForSerial(b.serial, /guest-test-b login: /, 30_000);
    assert.ok(out.indexOf(upLine(b)) < out.lastIndexOf('guest-test-b login: '));
  });

  void test('SSH: a key logs in over the public address; a password only where ssh_pwauth allows it', async () => {
    const viaKey = await sshUntil(
      a.ip,
      'echo ssh-$((6*7)) $(hostname); cat /root/.ssh/authorized_keys',
      { key },
      (r) => r.ok,
    );
    assert.ok(viaKey.ok, viaKey.stderr.slice(-1500));
    assert.equal(viaKey.stdout, `ssh-42 guest-test-a\n${pub}\n`);

    // A: ssh_pwauth false. The right password is refused: the server does not even offer passwords.
    const pwA = await guestSsh(a.ip, 'echo pw-$((6*7))', { password: PASSWORD });
    assert.equal(pwA.ok, false);
    assert.doesNotMatch(pwA.stdout, /pw-42/);
    assert.match(pwA.stderr, /Authentications that can continue: publickey\r?\n/);
    assert.match(pwA.stderr, /Permission denied \(publickey\)/);

    // B: ssh_pwauth true and a password: both ways in; a wrong password is refused.
    const pwB = await sshUntil(b.ip, 'echo pw-$((6*7)) $(hostname)', { password: PASSWORD }, (r) => r.ok);
    assert.ok(pwB.ok, pwB.stderr.slice(-1500));
    assert.equal(pwB.stdout, 'pw-42 guest-test-b\n');
    const wrongB = await guestSsh(b.ip, 'echo pw-$((6*7))', { password: 'wrong' });
    assert.equal(wrongB.ok, false);
    assert.match(wrongB.stderr, /Authentications that can continue: publickey,password/);
    const keyB = await guestSsh(b.ip, 'echo key-b', { key });
    assert.ok(keyB.ok, keyB.stderr.slice(-1500));
    assert.equal(keyB.stdout, 'key-b\n');
  });

  void test('ping counter: the guest pings every 100 ms and reports its own counts', async () => {
    const gw = lab.network.publicGateway;
    const re = new RegExp(`kloudak-guest: ping ${gw.replace(/\./g, '\\.')} sent=([3-9]\\d|\\d{3,}) `);
    const out = await waitForSerial(a.serial, re, 60_000);
    const n = pingCounts(out, gw)!;
    assert.ok(n.sent >= 30 && n.sent % 10 === 0, `sent ${n.sent}`);
    // The lab's gateway answers: hardly any loss (the counts are the guest's own).
    assert.ok(n.received >= n.sent - 3, `sent ${n.sent} received ${n.received}`);
  });

  void test('TCP listener: kloudak-listen answers connections from the machine', async () => {
    assert.match(await log(a), /kloudak-guest: listening on tcp 7777/);
    for (let i = 0; i < 2; i++) assert.equal(await tcpRead(a.ip, 7777), 'hello-from-a\n');
  });

  void test('reboot by Ctrl-Alt-Del (virsh send-key): rcK runs, the guest boots again on the same disk', async () => {
    await virsh(a.uri, 'send-key', a.name, 'KEY_LEFTCTRL', 'KEY_LEFTALT', 'KEY_DELETE');
    const out = await waitForCount(a, upLine(a), 2, 120_000);
    const firstUp = out.indexOf(upLine(a));
    const down = out.indexOf('kloudak-guest: rebooting', firstUp);
    assert.ok(down > firstUp, 'rebooting after the first boot');
    assert.ok(out.indexOf('kloudak-guest: disks synced and unmounted', down) > down);
    assert.ok(out.indexOf('kloudak-guest: disk vda boots=2', down) > down);
    assert.equal(bootCount(out), 2);
    assert.equal(await domState(a), 'running');
  });

  // libvirt's ACPI reboot presses the power button and, when the guest has powered off, resets it instead of
  // ending it. With the lab's lock manager (virtlockd) a domain with a writable disk does not survive that:
  // libvirt takes the disk's lease again without having released it ("Lockspace resource ... is locked")
  // and kills the domain (libvirt 9.0). B has no disk, so this shows what the guest does.
  void test('virsh reboot (ACPI): the guest powers off cleanly and libvirt starts it again', async () => {
    await virsh(b.uri, 'reboot', b.name);
    const out = await waitForCount(b, upLine(b), 2, 120_000);
    const firstUp = out.indexOf(upLine(b));
    const off = out.indexOf('kloudak-guest: powering off', firstUp);
    assert.ok(off > firstUp, 'powering off after the first boot');
    assert.ok(out.indexOf('kloudak-guest: disks synced and unmounted', off) > off);
    assert.equal(await domState(b), 'running');
  });

  void test('virsh shutdown (ACPI): both guests power off by themselves, no destroy', async () => {
    for (const g of [a, b]) await virsh(g.uri, 'shutdown', g.name);
    for (const g of [a, b]) {
      const deadline = Date.now() + 120_000;
      let state = await domState(g);
      while (state !== 'shut off' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 1000));
        state = await domState(g);
      }
      assert.equal(state, 'shut off', `${g.name} is ${state}`);
      const out = await log(g);
      const off = out.lastIndexOf('kloudak-guest: powering off');
      assert.ok(off > out.lastIndexOf(upLine(g)), `${g.name} said it powers off`);
      assert.ok(out.indexOf('kloudak-guest: disks synced and unmounted', off) > off);
    }
  });
});
