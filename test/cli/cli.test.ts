// Issue 8: the real `kloudak` bin against a platform (inventory, notification, controller on PGlite and the
// in-process bus) with scripted workers: login, workspaces, users, networks, VMs with --wait, tasks, exit codes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { uniqueName } from '../support/env.ts';
import { startPlatform, type TestPlatform } from '../support/platform.ts';
import { scriptedWorker, type ScriptedWorker } from '../support/workers.ts';
import { cliEnv, kloudak, twoStepVmWorker } from './support.ts';

const execFileP = promisify(execFile);

describe('kloudak CLI', () => {
  let p: TestPlatform;
  let env: NodeJS.ProcessEnv;
  let home: string;
  let vmWorker: { stop(): Promise<void> };
  let netWorker: ScriptedWorker;
  const ws = uniqueName('ws');
  const user = uniqueName('u');
  const area = uniqueName('area');
  const cli = (...args: string[]) => kloudak(env, args);
  const configFile = () => join(home, 'kloudak', 'config.json');

  before(async () => {
    p = await startPlatform('pglite', 'memory');
    const admin = await p.inv.adminToken();
    assert.equal(
      (await p.inv.call('POST', '/templates/', admin, { name: 'tiny', cpu: 1, ram: 0.125, disk: 1 })).status,
      201,
    );
    assert.equal(
      (await p.inv.call('POST', '/areas/', admin, { name: area, subnet: '10.77.0.0/24' })).status,
      201,
    );
    await p.inv.user(user);
    ({ env, home } = cliEnv());
    vmWorker = await twoStepVmWorker(p.bus, ws, 300);
    netWorker = await scriptedWorker(p.bus, 'network', ws, () => ({ status: 'successful', vlan: 321 }));
  });
  after(async () => {
    await vmWorker?.stop();
    await netWorker?.stop();
    await p?.close();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  const login = (password: string) =>
    cli(
      'login',
      '--user',
      user,
      '--password',
      password,
      '--inventory',
      p.inv.url,
      '--controller',
      p.controllerUrl,
      '--notification',
      p.notificationUrl,
    );

  test('a wrong password exits 3; an unreachable inventory exits 5', async () => {
    const r = await login('not-the-password');
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /wrong username or password/);
    const gone = await cli('login', '--user', user, '--password', 'x', '--inventory', 'http://127.0.0.1:1');
    assert.equal(gone.code, 5, gone.stderr);
  });

  test('commands before login exit 3', async () => {
    const r = await cli('vm', 'list', '-w', ws);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /not logged in/);
  });

  test('login keeps URLs and the token in a 0600 config file and prints no secret', async () => {
    const r = await login(`${user}-password`);
    assert.equal(r.code, 0, r.stderr);
    const st = statSync(configFile());
    assert.equal(st.mode & 0o777, 0o600);
    const cfg = JSON.parse(readFileSync(configFile(), 'utf8'));
    assert.equal(cfg.inventory_url, p.inv.url);
    assert.equal(cfg.controller_url, p.controllerUrl);
    assert.equal(cfg.notification_url, p.notificationUrl);
    assert.equal(cfg.username, user);
    assert.ok(cfg.token && cfg.session);
    assert.ok(!r.stdout.includes(cfg.token) && !r.stderr.includes(cfg.token));
    assert.ok(!r.stderr.includes(`${user}-password`));
  });

  test('workspaces create and list --json; the first becomes the default', async () => {
    const c = await cli('workspaces', 'create', ws);
    assert.equal(c.code, 0, c.stderr);
    const l = await cli('workspaces', 'list', '--json');
    assert.equal(l.code, 0, l.stderr);
    assert.deepEqual(JSON.parse(l.stdout), [{ name: ws, default: true }]);
    const table = await cli('workspaces', 'list');
    assert.match(table.stdout, /^NAME\s+DEFAULT\n/);
    assert.match(table.stdout, new RegExp(`${ws}\\s+\\*`));
    const dup = await cli('workspaces', 'create', ws);
    assert.equal(dup.code, 2);
    assert.match(dup.stderr, /exists \(field: name\)/);
  });

  test('users add with permission flags, list --json, edit, remove', async () => {
    const other = uniqueName('o');
    await p.inv.user(other);
    const add = await cli('users', 'add', other, '--vm-can-add', '--network-can-add');
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stderr, /invited/);
    const invited = JSON.parse((await cli('users', 'invited', '--json')).stdout);
    assert.deepEqual(
      invited.map((i: any) => [i.name, i.vm_can_add]),
      [[other, true]],
    );
    // The invitee accepts with its own CLI.
    const theirs = cliEnv();
    const as = (...args: string[]) => kloudak(theirs.env, args);
    const login = await as(
      'login',
      '--user',
      other,
      '--password',
      `${other}-password`,
      '--inventory',
      p.inv.url,
    );
    assert.equal(login.code, 0, login.stderr);
    const mine = JSON.parse((await as('invitations', 'list', '--json')).stdout);
    assert.equal(mine[0].workspace, ws);
    assert.equal((await as('invitations', 'accept', ws)).code, 0);
    rmSync(theirs.home, { recursive: true, force: true });
    const list = JSON.parse((await cli('users', 'list', '--json')).stdout);
    const m = list.find((u: any) => u.name === other);
    assert.equal(m.vm_can_add, true);
    assert.equal(m.network_can_add, true);
    assert.equal(m.vm_can_delete, false);
    const edit = await cli('users', 'edit', other, '--no-vm-can-add', '--vm-can-delete', '--json');
    assert.equal(edit.code, 0, edit.stderr);
    const e = JSON.parse(edit.stdout);
    assert.equal(e.vm_can_add, false);
    assert.equal(e.vm_can_delete, true);
    assert.equal((await cli('users', 'edit', other)).code, 2, 'no flags: nothing to change');
    assert.equal((await cli('users', 'remove', other)).code, 0);
    assert.equal((await cli('users', 'remove', other)).code, 4);
  });

  test('networks create --wait, list --json', async () => {
    const c = await cli('networks', 'create', 'net1', '--subnet', '192.168.50.0/24', '--wait');
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, /network net1: U {2}vlan 321 {2}subnet 192\.168\.50\.0\/24/);
    const l = JSON.parse((await cli('networks', 'list', '--json')).stdout);
    assert.deepEqual(
      l.map((n: any) => [n.name, n.state, n.vlan]),
      [['net1', 'U', 321]],
    );
  });

  test('vm create --wait follows the stages and ends with the final state (exit 0)', async () => {
    const r = await cli(
      'vm',
      'create',
      'web-1',
      '--template',
      'tiny',
      '--area',
      area,
      '--network',
      'net1',
      '--password',
      'pw-123456',
      '--wait',
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^vm web-1: U {2}ip 10\.77\.0\.\d+ {2}host h1 {2}networks net1\n$/);
    // stderr is not a terminal: one line per new stage.
    const stages = r.stderr
      .split('\n')
      .filter(Boolean)
      .map((l) => /^vm web-1: (\S+) \((\w+)\)/.exec(l)?.slice(1, 3).join(' '));
    assert.deepEqual(
      stages.filter((s, i) => s && s !== stages[i - 1]).slice(-2),
      ['C_N running', 'U successful'],
      r.stderr,
    );
    assert.ok(stages[0]?.startsWith('C_D'), r.stderr);
    assert.ok(!r.stdout.includes('pw-123456') && !r.stderr.includes('pw-123456'));
  });

  test('vm create that the worker always fails exits 1 and prints the error', async () => {
    const r = await cli(
      'vm',
      'create',
      'fail-1',
      '--template',
      'tiny',
      '--area',
      area,
      '--password',
      'pw-123456',
      '--wait',
    );
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /vm fail-1: task [0-9a-f-]{36} rolled back: disk exploded/);
    assert.equal(r.stdout, '');
  });

  test('vm list --json and show', async () => {
    const l = await cli('vm', 'list', '--json');
    assert.equal(l.code, 0, l.stderr);
    const vms = JSON.parse(l.stdout);
    assert.deepEqual(
      vms.map((v: any) => [v.name, v.state, v.host, v.networks]),
      [['web-1', 'U', 'h1', ['net1']]],
    );
    const table = await cli('vm', 'list');
    assert.match(
      table.stdout,
      /^NAME\s+STATE\s+IP\s+HOST\s+AREA\s+TEMPLATE\s+CPU\s+RAM\s+NETWORKS\s+GROUPS\s+AFFINITY\nweb-1\s+U\s+10\.77\.0\.\d+\s+h1\s+\S+\s+tiny\s+1\s+128 MiB\s+net1/,
    );
    const show = await cli('vm', 'show', 'web-1');
    assert.match(show.stdout, /^interfaces:\s+net1=192\.168\.50\.\d+\/24\/-$/m);
    assert.equal((await cli('vm', 'show', 'nope')).code, 4);
  });

  test('quotas show (the rolled-back fail-1 holds nothing); set is for admins; a create past a quota exits 3 naming it', async () => {
    const shown = await cli('quotas', 'show', '--json');
    assert.equal(shown.code, 0, shown.stderr);
    const q = JSON.parse(shown.stdout);
    assert.deepEqual([q.used.vms, q.used.vcpus, q.used.networks, q.limits.vms], [1, 1, 1, 100]);
    assert.equal((await cli('quotas', 'set', '--vms', '5')).code, 3, 'a member is not an admin');
    assert.equal((await cli('quotas', 'set', '--vms', 'lots')).code, 2);
    const admin = await p.inv.adminToken();
    assert.equal((await p.inv.call('PUT', `/workspaces/${ws}/quotas/`, admin, { vms: 1 })).status, 200);
    const table = await cli('quotas', 'show');
    assert.match(table.stdout, /^vms\s+1\s+1 \*\s+100%$/m, table.stdout);
    assert.match(table.stdout, new RegExp(`^${area}\\s+1/256\\s+1/256$`, 'm'), table.stdout);
    const r = await cli(
      'vm',
      'create',
      'web-2',
      '--template',
      'tiny',
      '--area',
      area,
      '--password',
      'pw-123456',
    );
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /quota vms exceeded: limit 1, used 1/);
    // The controller passes inventory's refusal on whole: the quota, its limit and its use.
    const token = JSON.parse(readFileSync(configFile(), 'utf8')).token as string;
    const direct = await p.call('POST', '/vms/', token, {
      name: 'web-3',
      owner: ws,
      area,
      template: 'tiny',
      password: 'pw-123456',
    });
    assert.equal(direct.status, 403, JSON.stringify(direct.body));
    assert.deepEqual(
      {
        field: direct.body.field,
        quota: direct.body.quota,
        limit: direct.body.limit,
        used: direct.body.used,
      },
      { field: 'quota', quota: 'vms', limit: 1, used: 1 },
    );
    assert.equal((await p.inv.call('PUT', `/workspaces/${ws}/quotas/`, admin, { vms: null })).status, 200);
  });

  test('bad input exits 2 and names the field', async () => {
    const t = await cli(
      'vm',
      'create',
      'web-2',
      '--template',
      'no-such',
      '--area',
      area,
      '--password',
      'pw-123456',
    );
    assert.equal(t.code, 2, t.stderr);
    assert.match(t.stderr, /no template no-such \(field: template\)/);
    const n = await cli(
      'vm',
      'create',
      'bad name!',
      '--template',
      'tiny',
      '--area',
      area,
      '--password',
      'pw-123456',
    );
    assert.equal(n.code, 2, n.stderr);
    assert.match(n.stderr, /\(field: name\)/);
    const missing = await cli('vm', 'create', 'web-3', '--area', area, '--password', 'x');
    assert.equal(missing.code, 2, 'a required option missing is a usage error');
    assert.match(missing.stderr, /--template/);
    const nopw = await cli('vm', 'create', 'web-3', '--template', 'tiny', '--area', area);
    assert.equal(nopw.code, 2);
    assert.match(nopw.stderr, /field: password/);
  });

  test('tasks list --json and --finished', async () => {
    const all = JSON.parse((await cli('tasks', 'list', '--json')).stdout);
    assert.ok(all.some((t: any) => t.object === 'web-1' && t.status === 'successful'));
    assert.ok(all.some((t: any) => t.object === 'fail-1' && t.status === 'rolled_back'));
    assert.ok(!JSON.stringify(all).includes('pw-123456'));
    const running = JSON.parse((await cli('tasks', 'list', '--running', '--json')).stdout);
    assert.deepEqual(running, []);
    const one = all.find((t: any) => t.object === 'web-1');
    const show = await cli('tasks', 'show', one.task_id, '--json');
    assert.equal(JSON.parse(show.stdout).status, 'successful');
  });

  test('vm snapshot create|list|revert|delete (issue 15)', async () => {
    const made = await cli('vm', 'snapshot', 'create', 'web-1', 'before', '--wait');
    assert.equal(made.code, 0, made.stderr);
    assert.equal(made.stdout, 'vm web-1: snapshot before taken\n');
    const listed = JSON.parse((await cli('vm', 'snapshot', 'list', 'web-1', '--json')).stdout);
    assert.deepEqual(
      listed.map((s: any) => [s.name, s.state, s.running]),
      [['before', 'U', false]],
    );
    assert.match(
      (await cli('vm', 'snapshot', 'list', 'web-1')).stdout,
      /^NAME\s+STATE\s+TAKEN\s+CREATED\nbefore\s+U\s+stopped\s/,
    );
    const rev = await cli('vm', 'snapshot', 'revert', 'web-1', 'before', '--wait');
    assert.equal(rev.code, 0, rev.stderr);
    assert.equal(rev.stdout, 'vm web-1: snapshot before reverted to\n');
    const bad = await cli('vm', 'snapshot', 'create', 'web-1', '-bad-');
    assert.equal(bad.code, 2, bad.stderr);
    const missing = await cli('vm', 'snapshot', 'revert', 'web-1', 'nope');
    assert.equal(missing.code, 4, missing.stderr);
    const del = await cli('vm', 'snapshot', 'delete', 'web-1', 'before', '--wait');
    assert.equal(del.code, 0, del.stderr);
    assert.deepEqual(JSON.parse((await cli('vm', 'snapshot', 'list', 'web-1', '--json')).stdout), []);
  });

  test('vm delete --wait, then the list is empty', async () => {
    const r = await cli('vm', 'delete', 'web-1', '--wait');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'vm web-1: deleted\n');
    assert.deepEqual(JSON.parse((await cli('vm', 'list', '--json')).stdout), []);
    const again = await cli('vm', 'delete', 'web-1', '--wait');
    assert.equal(again.code, 4, again.stderr);
  });

  test('vm create|edit --affinity-group, vm affinity-groups; a task warning is printed', async () => {
    const r = await cli(
      'vm',
      'create',
      'grp-1',
      '--template',
      'tiny',
      '--area',
      area,
      '--password',
      'pw-123456',
      '--affinity-group',
      'web',
      '--wait',
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^vm grp-1: warning: anti-affinity group web not honoured$/m);
    const bad = await cli(
      'vm',
      'create',
      'grp-2',
      '--template',
      'tiny',
      '--area',
      area,
      '-p',
      'x',
      '--affinity-group',
      'a b',
    );
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /\(field: affinity_group\)/);
    const list = await cli('vm', 'affinity-groups');
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^NAME\s+POLICY\s+SPREAD\s+VMS\nweb\s+anti_affinity\s+yes\s+grp-1@h1\n$/);
    assert.match((await cli('vm', 'list')).stdout, /^grp-1\s.*\sweb\n/m);
    const left = await cli('vm', 'edit', 'grp-1', '--no-affinity-group', '--wait');
    assert.equal(left.code, 0, left.stderr);
    assert.deepEqual(JSON.parse((await cli('vm', 'affinity-groups', '--json')).stdout), []);
    assert.equal((await cli('vm', 'delete', 'grp-1', '--wait')).code, 0);
  });

  test('keys add|list|delete, and vm create --ssh-key --user-data without a password', async () => {
    const key = join(home, 'id');
    await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'cli@test', '-f', key]);
    const fp = (await execFileP('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${key}.pub`])).stdout.split(
      ' ',
    )[1];
    const add = await cli('keys', 'add', 'laptop', `${key}.pub`);
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stderr, new RegExp(`key laptop added: 256 ${fp.replace(/[+/]/g, '\\$&')} cli@test`));
    const priv = await cli('keys', 'add', 'oops', key);
    assert.equal(priv.code, 2, priv.stderr);
    assert.match(priv.stderr, /private key.*\(field: public_key\)/);
    const bad = await cli('keys', 'add', 'bad', '/dev/null');
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /field: public_key/);
    const list = await cli('keys', 'list');
    assert.match(
      list.stdout,
      /^NAME\s+TYPE\s+BITS\s+FINGERPRINT\s+COMMENT\nlaptop\s+ssh-ed25519\s+256\s+(\S+)\s+cli@test\n$/,
    );
    assert.ok(list.stdout.includes(fp));

    const ud = join(home, 'user-data.yaml');
    writeFileSync(ud, '#cloud-config\npackages: [curl]\n');
    const vm = await cli(
      'vm',
      'create',
      'key-1',
      '--template',
      'tiny',
      '--area',
      area,
      '--ssh-key',
      'laptop',
      '--user-data',
      ud,
      '--wait',
    );
    assert.equal(vm.code, 0, vm.stderr);
    assert.match(vm.stdout, /^vm key-1: U /);
    const unknown = await cli(
      'vm',
      'create',
      'key-2',
      '--template',
      'tiny',
      '--area',
      area,
      '--ssh-key',
      'nope',
    );
    assert.equal(unknown.code, 2, unknown.stderr);
    assert.match(unknown.stderr, /no key named nope \(field: ssh_keys\)/);
    writeFileSync(ud, '#cloud-config\nruncmd: [unclosed\n');
    const notYaml = await cli(
      'vm',
      'create',
      'key-2',
      '--template',
      'tiny',
      '--area',
      area,
      '--user-data',
      ud,
    );
    assert.equal(notYaml.code, 2, notYaml.stderr);
    assert.match(notYaml.stderr, /not valid YAML.*\(field: user_data\)/);
    assert.equal((await cli('vm', 'delete', 'key-1', '--wait')).code, 0);

    assert.equal((await cli('keys', 'delete', 'laptop')).code, 0);
    assert.equal((await cli('keys', 'delete', 'laptop')).code, 4);
    assert.deepEqual(JSON.parse((await cli('keys', 'list', '--json')).stdout), []);
  });

  test('an expired token is renewed through the login session', async () => {
    const cfg = JSON.parse(readFileSync(configFile(), 'utf8'));
    cfg.token = 'expired.token.value';
    const { writeConfig } = await import('../../src/cli/config-file.ts');
    writeConfig(configFile(), cfg);
    const r = await cli('networks', 'list', '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.notEqual(JSON.parse(readFileSync(configFile(), 'utf8')).token, 'expired.token.value');
  });

  test('operator commands: a user is refused (3), --config points elsewhere', async () => {
    const r = await cli('hosts', 'list');
    assert.equal(r.code, 3, r.stderr);
    const elsewhere = await cli('--config', join(home, 'other.json'), 'vm', 'list');
    assert.equal(elsewhere.code, 3, 'a fresh config file: not logged in');
  });

  test('logout forgets the token', async () => {
    assert.equal((await cli('logout')).code, 0);
    const cfg = JSON.parse(readFileSync(configFile(), 'utf8'));
    assert.equal(cfg.token, undefined);
    assert.equal(cfg.workspace, ws, 'the default workspace stays');
    assert.equal((await cli('vm', 'list')).code, 3);
  });
});
