// Accounts (issue 14.11): users change their password (every other token and session ends), admins disable
// an account (its tokens stop working on every service) and reset a password, `kloudak passwd` changes the
// generated admin's password, and a task error a tenant reads carries no host path or address (admins read
// it raw; the logs keep it under the request id).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { BIN, cliEnv, type CliResult } from '../cli/support.ts';
import { uniqueName } from '../support/env.ts';
import { startPlatform, until, type TestPlatform } from '../support/platform.ts';
import { scriptedWorker } from '../support/workers.ts';

const SOON = 15_000;

/** The real `kloudak` bin with `input` piped to its stdin. */
function kloudakWith(env: NodeJS.ProcessEnv, args: string[], input: string): Promise<CliResult> {
  return new Promise((done) => {
    const child = execFile(
      process.execPath,
      [BIN, ...args],
      { env, timeout: 90_000 },
      (err, stdout, stderr) =>
        done({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
    child.stdin?.end(input);
  });
}

void describe('accounts', () => {
  let p: TestPlatform;
  let admin: string;
  before(async () => {
    p = await startPlatform('pglite', 'memory');
    admin = await p.inv.adminToken();
  });
  after(async () => p?.close());

  /** What the token may do on inventory and the controller: [GET /workspaces/, GET /tasks/<ws>/]. */
  const works = async (token: string, ws: string) => [
    (await p.inv.call('GET', '/workspaces/', token)).status,
    (await p.call('GET', `/tasks/${ws}/`, token)).status,
  ];
  async function user() {
    const name = uniqueName('u');
    const token = await p.inv.user(name);
    const ws = uniqueName('ws');
    assert.equal((await p.inv.call('POST', '/workspaces/', token, { name: ws })).status, 201);
    assert.deepEqual(await works(token, ws), [200, 200]);
    return { name, token, ws };
  }
  const login = (name: string, password: string) =>
    p.inv.call('POST', '/login/', undefined, { username: name, password });

  test('a user changes its password: the current one is checked, old tokens and the old password stop', async () => {
    const u = await user();
    const change = (current: string, password: string) =>
      p.inv.call('PUT', '/password/', u.token, { current, password });
    const wrong = await change('not-my-password', 'new-password-1');
    assert.equal(wrong.status, 403);
    assert.equal(wrong.body.field, 'current');
    assert.equal((await change(`${u.name}-password`, 'short')).status, 400, 'a new password of 8 or more');
    const ok = await change(`${u.name}-password`, 'new-password-1');
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    await until(
      'the old token stops working everywhere',
      async () => (await works(u.token, u.ws)).every((s) => s === 401) || undefined,
      SOON,
    );
    assert.deepEqual(await works(ok.body.token, u.ws), [200, 200], 'the fresh token works');
    assert.equal((await login(u.name, `${u.name}-password`)).status, 401);
    assert.equal((await login(u.name, 'new-password-1')).status, 200);
  });

  test('an admin disables an account (its tokens stop everywhere), enables it, and resets its password', async () => {
    const u = await user();
    const other = await user();
    assert.equal(
      (await p.inv.call('PUT', `/accounts/${u.name}/`, other.token, { disabled: true })).status,
      403,
    );
    assert.equal(
      (await p.inv.call('PUT', `/accounts/${uniqueName('nobody')}/`, admin, { disabled: true })).status,
      404,
    );
    const off = await p.inv.call('PUT', `/accounts/${u.name}/`, admin, { disabled: true });
    assert.equal(off.status, 200, JSON.stringify(off.body));
    assert.equal(off.body.disabled, true);
    await until(
      'the disabled user\u2019s token stops working everywhere',
      async () => (await works(u.token, u.ws)).every((s) => s === 401) || undefined,
      SOON,
    );
    assert.equal((await login(u.name, `${u.name}-password`)).status, 401, 'no login while disabled');
    assert.deepEqual(await works(other.token, other.ws), [200, 200], 'others are untouched');
    assert.equal((await p.inv.call('PUT', `/accounts/${u.name}/`, admin, { disabled: false })).status, 200);
    assert.equal((await login(u.name, `${u.name}-password`)).status, 200, 'enabled again');

    const reset = await p.inv.call('PUT', `/accounts/${other.name}/`, admin, {
      password: 'reset-password-1',
    });
    assert.equal(reset.status, 200);
    await until(
      'the reset user\u2019s old token stops',
      async () => (await works(other.token, other.ws)).every((s) => s === 401) || undefined,
      SOON,
    );
    assert.equal((await login(other.name, `${other.name}-password`)).status, 401);
    assert.equal((await login(other.name, 'reset-password-1')).status, 200);
  });

  test('kloudak passwd changes the admin\u2019s password', async () => {
    const { env, home } = cliEnv();
    try {
      const user = p.inv.config.ADMIN_USER;
      const loggedIn = await kloudakWith(
        env,
        [
          'login',
          '--user',
          user,
          '--inventory',
          p.inv.url,
          '--controller',
          p.controllerUrl,
          '--notification',
          p.notificationUrl,
        ],
        `${p.inv.adminPassword}\n`,
      );
      assert.equal(loggedIn.code, 0, loggedIn.stderr);
      const bad = await kloudakWith(env, ['passwd'], 'wrong-password\nadmin-password-2\n');
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /current password is wrong/);
      const r = await kloudakWith(env, ['passwd'], `${p.inv.adminPassword}\nadmin-password-2\n`);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(!r.stdout.includes('admin-password-2') && !r.stderr.includes('admin-password-2'));
      assert.equal((await login(user, p.inv.adminPassword)).status, 401, 'the generated password is gone');
      assert.equal((await login(user, 'admin-password-2')).status, 200);
      const after = await kloudakWith(env, ['workspaces', 'list', '--json'], '');
      assert.equal(after.code, 0, `the CLI keeps working with the fresh token: ${after.stderr}`);
      // Put it back for the rest of the file (adminToken logs in with the generated one).
      const fresh = (await login(user, 'admin-password-2')).body.token as string;
      const back = { current: 'admin-password-2', password: p.inv.adminPassword };
      assert.equal((await p.inv.call('PUT', '/password/', fresh, back)).status, 200);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  test('a task error reads without host paths and addresses to a tenant, raw to an admin', async () => {
    const u = await user();
    const raw =
      "virsh -c qemu+libssh://root@10.211.0.2/system define failed: Cannot access storage file '/var/lib/kloudak/pools/p1/disk.qcow2'";
    const nets = await scriptedWorker(p.bus, 'network', u.ws, () => ({ status: 'failed', error: raw }));
    try {
      const t = await p.call('POST', '/networks/', u.token, { owner: u.ws, name: 'n1' });
      assert.equal(t.status, 202);
      const seen = await until(
        'the task ends',
        async () => {
          const x = (await p.call('GET', `/task/${t.body.task_id}/?wait=20`, u.token)).body;
          return ['failed', 'rolled_back'].includes(x.status) ? x : undefined;
        },
        120_000,
      );
      for (const s of ['/var/lib', 'qemu+libssh', 'root@', '10.211.0.2'])
        assert.ok(!String(seen.error).includes(s), `${s} in ${seen.error}`);
      assert.match(seen.error, /define failed/);
      assert.ok(String(seen.error).includes(seen.request_id), 'the request id, to find the logs by');
      const listed = (await p.call('GET', `/tasks/${u.ws}/`, u.token)).body.tasks[0];
      assert.equal(listed.error, seen.error);
      // A fresh admin token: the passwd test above ended the earlier ones.
      const byAdmin = (await p.call('GET', `/task/${t.body.task_id}/`, await p.inv.adminToken())).body;
      assert.ok(
        String(byAdmin.error).includes('/var/lib/kloudak/pools/p1/disk.qcow2'),
        JSON.stringify(byAdmin),
      );
    } finally {
      await nets.stop();
    }
  });
});
