// Issue 15 item 3 "Must show", on the lab: a VM created through the controller with one of the user's keys,
// user-data of their own and no password: the test logs in with the key over the guest's public address (an
// ssh client on this side, as test/system/guest.test.ts does), the user's runcmd ran, the hostname is the
// VM's (not the one the user-data asked for), and password logins are refused (the server offers publickey
// only).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createCompute, type Compute } from '../../src/compute/service.ts';
import { createNetworkService, type NetworkService } from '../../src/network/service.ts';
import { createLogger } from '../../src/lib/log.ts';
import type { LabStatus } from '../../src/lab/index.ts';
import { uniqueName } from '../support/env.ts';
import { guestSsh } from '../support/guest.ts';
import {
  clearPortSecurity,
  destroyComputeVms,
  ensureLab,
  labConfig,
  readConsole,
  registerTestLab,
} from '../support/lab.ts';
import { startPlatform, until, type TestPlatform } from '../support/platform.ts';

const execFileP = promisify(execFile);
const log = (name: string) => createLogger(name, process.env.KLOUDAK_TEST_LOG ?? 'silent');

describe('SSH keys and user-data on the lab', { timeout: 600_000 }, () => {
  let lab: LabStatus;
  let p: TestPlatform;
  let compute: Compute;
  let network: NetworkService;
  let dir: string;

  before(async () => {
    lab = await ensureLab(2);
    p = await startPlatform('pglite', 'memory', labConfig(lab));
    const config = p.serviceConfig({ RECONCILE_INTERVAL: '3600' });
    compute = await createCompute({ config, log: log('compute'), bus: p.bus });
    network = await createNetworkService({ config, log: log('network'), bus: p.bus });
    dir = await mkdtemp(join(tmpdir(), 'kloudak-sshkeys-'));
  });
  after(async () => {
    if (compute) await destroyComputeVms(compute);
    await compute?.close();
    await network?.close();
    if (lab) await clearPortSecurity(lab);
    await p?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('a key logs in over the public address; user-data ran; password SSH is off without a password', async () => {
    const admin = await p.inv.adminToken();
    await registerTestLab(lab, p.inv.url, admin);
    const user = uniqueName('u');
    await p.inv.user(user);
    const ws = uniqueName('ws');
    await p.inv.call('POST', '/workspaces/', await p.inv.login(user), { name: ws });
    const token = await p.inv.login(user);
    // The default group lets in only its own members: SSH from this machine is opened.
    const open = await p.call('PUT', '/security_groups/', token, {
      owner: ws,
      name: 'default',
      update_dict: {
        rules: [
          { direction: 'egress', protocol: 'any' },
          { direction: 'ingress', protocol: 'any', remote_group: 'default' },
          { direction: 'ingress', protocol: 'tcp', port_min: 22, port_max: 22 },
        ],
      },
    });
    assert.equal(open.status, 202, JSON.stringify(open.body));
    const opened = await p.call('GET', `/task/${open.body.task_id}/?wait=60`, token);
    assert.equal(opened.body.status, 'successful', JSON.stringify(opened.body));

    const key = join(dir, 'id');
    await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'sshkeys-test', '-f', key]);
    const pub = (await readFile(`${key}.pub`, 'utf8')).trim();
    const added = await p.inv.call('POST', '/keys/', token, { name: 'laptop', public_key: pub });
    assert.equal(added.status, 201, JSON.stringify(added.body));

    const name = uniqueName('vm');
    const r = await p.call('POST', '/vms/', token, {
      name,
      owner: ws,
      area: 'lab',
      template: 'kloudak-test',
      ssh_keys: ['laptop'],
      user_data:
        '#cloud-config\nhostname: not-this-one\npackages: [curl]\nruncmd:\n  - echo user-data-$((6*7))\n',
    });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const task = r.body.task_id as string;
    const ip = r.body.ip as string;
    const line = `kloudak-guest up ${name} ${ip}`;
    const out = await until(
      `${line} on the console`,
      () => (readConsole(lab, task).includes(line) ? readConsole(lab, task) : undefined),
      120_000,
      500,
    );
    assert.match(out, /kloudak-guest: ssh on port 22: 1 keys, password login off/);
    assert.match(out, /user-data-42/);
    const t = await p.call('GET', `/task/${task}/?wait=60`, token);
    assert.equal(t.body.status, 'successful', JSON.stringify(t.body));

    // The key, over the public address: retried while sshd's first connection warms up.
    let viaKey = await guestSsh(ip, 'echo ssh-$((6*7)) $(hostname); cat /root/.ssh/authorized_keys', { key });
    for (let i = 0; !viaKey.ok && i < 30; i++) {
      await new Promise((res) => setTimeout(res, 2000));
      viaKey = await guestSsh(ip, 'echo ssh-$((6*7)) $(hostname); cat /root/.ssh/authorized_keys', { key });
    }
    assert.ok(viaKey.ok, viaKey.stderr.slice(-1500));
    assert.equal(viaKey.stdout, `ssh-42 ${name}\n${pub}\n`);

    // No password was given: the server does not even offer passwords.
    const pw = await guestSsh(ip, 'echo pw-$((6*7))', { password: 'any-password' });
    assert.equal(pw.ok, false);
    assert.doesNotMatch(pw.stdout, /pw-42/);
    assert.match(pw.stderr, /Authentications that can continue: publickey\r?\n/);
    assert.match(pw.stderr, /Permission denied \(publickey\)/);

    // A key the guest was not given is refused too.
    const other = join(dir, 'other');
    await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    const wrong = await guestSsh(ip, 'echo no', { key: other });
    assert.equal(wrong.ok, false);
    assert.match(wrong.stderr, /Permission denied \(publickey\)/);

    const d = await p.call('DELETE', '/vms/', token, { owner: ws, name });
    assert.equal(d.status, 202);
    const dt = await p.call('GET', `/task/${d.body.task_id}/?wait=60`, token);
    assert.equal(dt.body.status, 'successful', JSON.stringify(dt.body));
  });
});
