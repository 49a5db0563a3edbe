// Issue 15 "Must show" for power, console and resize, on the lab with one real guest that every test reuses
// (in order: a create costs ~10+ s here). Through the controller's API and the real `kloudak` bin, with compute,
// its console bridge and the network service in this process: the console carries a typed command and its
// output to two users at once, and through `kloudak vm console` (Ctrl-] leaves, --log has it); stop
// makes the guest power off by itself (its console says so), stop answering and the record say D; start
// brings it back; reboot boots it again (its disk counts the boot); a resize shows in the guest's own memory
// line; a guest that powers itself off is D without any task; wrong states are 409 naming the state, sizes no
// host holds are 400 naming the field.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { freePort } from '../support/cluster.ts';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import { createCompute, type Compute } from '../../src/compute/service.ts';
import { createNetworkService, type NetworkService } from '../../src/network/service.ts';
import { CONSOLE_PROTOCOL, TOKEN_PROTOCOL_PREFIX } from '../../src/lib/console-protocol.ts';
import { listen } from '../../src/lib/http.ts';
import { createLogger } from '../../src/lib/log.ts';
import type { LabStatus } from '../../src/lab/index.ts';
import { BIN, cliEnv, kloudak } from '../cli/support.ts';
import { uniqueName } from '../support/env.ts';
import { bootCount, guestFacts } from '../support/guest.ts';
import {
  clearPortSecurity,
  destroyComputeVms,
  ensureLab,
  labConfig,
  readConsole,
  registerTestLab,
} from '../support/lab.ts';
import { startPlatform, until, type TestPlatform, succeeds } from '../support/platform.ts';

const BOOT_TIMEOUT = 120_000;
const PASSWORD = 'pw-console-1';
const execFileP = promisify(execFile);

/**
 * Whether the guest answers a ping within `seconds`. Generous: this machine may still hold the address's
 * neighbour entry of an earlier guest (every test platform hands out the area's first addresses again), and
 * resolving it anew takes a few seconds of probes.
 */
const answers = (ip: string, seconds = 12) =>
  execFileP('ping', ['-c', '1', '-w', String(seconds), ip], { timeout: (seconds + 5) * 1000 }).then(
    () => true,
    () => false,
  );

/** A console user: the websocket, and everything it received. */
interface Viewer {
  ws: WebSocket;
  text(): string;
  /** Waits until the output after `from` characters matches; answers the index after the match. */
  waitFor(re: RegExp, from?: number, timeoutMs?: number): Promise<number>;
}

function openConsole(url: string, token: string): Promise<Viewer | { status: number; body: string }> {
  return new Promise((resolve) => {
    // Browsers' way: the token as a subprotocol.
    const ws = new WebSocket(url, [CONSOLE_PROTOCOL, `${TOKEN_PROTOCOL_PREFIX}${token}`]);
    let out = '';
    ws.on('message', (d: Buffer) => (out += d.toString('utf8')));
    ws.on('error', () => undefined);
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (b: Buffer) => (body += String(b)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('open', () =>
      resolve({
        ws,
        text: () => out,
        waitFor: async (re, from = 0, timeoutMs = 30_000) => {
          const m = await until(
            `${re} on the console`,
            () => re.exec(out.slice(from)) ?? undefined,
            timeoutMs,
            100,
          );
          return from + m.index + m[0].length;
        },
      }),
    );
  });
}

describe('a VM powered, resized and reached on its console (lab, one guest)', () => {
  let lab: LabStatus;
  let p: TestPlatform;
  let compute: Compute;
  let network: NetworkService;
  let ws: string;
  let token: string;
  let viewer: string;
  let user: string;
  let cliHome = '';
  let env: NodeJS.ProcessEnv = {};
  const name = uniqueName('life');
  let task = '';
  let ip = '';
  let consoleUrl = '';

  const call = (method: string, path: string, body?: unknown) => p.call(method, path, token, body);
  const power = (action: string, extra: Record<string, unknown> = {}) =>
    call('POST', '/vms/power/', { owner: ws, name, action, ...extra });
  const finish = (r: { status: number; body: any }, what: string) => succeeds(p, r, token, 120, what);
  const record = async () => (await p.inv.call('GET', `/${ws}/vms/${name}/`, token)).body;
  const log = () => readConsole(lab, task);
  const upLines = () =>
    log()
      .split('\n')
      .filter((l) => l.includes(`kloudak-guest up ${name} ${ip}`)).length;

  before(async () => {
    lab = await ensureLab(2);
    const port = await freePort();
    p = await startPlatform('pglite', 'memory', {
      ...labConfig(lab),
      COMPUTE_URL: `http://127.0.0.1:${port}`,
    });
    compute = await createCompute({
      config: p.serviceConfig({ RECONCILE_INTERVAL: '3600', POWER_SYNC_INTERVAL: '2' }),
      log: createLogger('compute', process.env.KLOUDAK_TEST_LOG ?? 'silent'),
      bus: p.bus,
    });
    await listen(compute.app, '127.0.0.1', port);
    // Every VM has a network step (its public port's anti-spoofing rules; a started VM gets them again).
    network = await createNetworkService({
      config: p.serviceConfig({ RECONCILE_INTERVAL: '3600' }),
      log: createLogger('network', process.env.KLOUDAK_TEST_LOG ?? 'silent'),
      bus: p.bus,
    });
    await registerTestLab(lab, p.inv.url, await p.inv.adminToken());
    ws = uniqueName('ws');
    user = uniqueName('u');
    await p.inv.user(user);
    assert.equal(
      (await p.inv.call('POST', '/workspaces/', await p.inv.login(user), { name: ws })).status,
      201,
    );
    token = await p.inv.login(user);
    // A member who may see the VM but not edit it.
    viewer = uniqueName('v');
    await p.inv.user(viewer);
    await p.inv.addMember(ws, token, viewer, { vm_can_edit: false }); // invited and accepted (issue 14.6)
    viewer = await p.inv.login(viewer);
    const r = await call('POST', '/vms/', {
      name,
      owner: ws,
      area: 'lab',
      template: 'kloudak-test',
      password: PASSWORD,
    });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    task = r.body.task_id;
    ip = r.body.ip;
    await finish(r, 'create');
    await until('the up line', () => upLines() >= 1 || undefined, BOOT_TIMEOUT, 500);
    consoleUrl = `${p.controllerUrl.replace(/^http/, 'ws')}/console/${ws}/${name}/`;
  });
  after(async () => {
    if (compute) await destroyComputeVms(compute);
    await compute?.close();
    await network?.close();
    if (lab) await clearPortSecurity(lab);
    await p?.close();
    if (cliHome) rmSync(cliHome, { recursive: true, force: true });
  });

  test('the console: a member without vm_can_edit is refused before the upgrade', async () => {
    const refused = await openConsole(consoleUrl, viewer);
    assert.ok('status' in refused && refused.status === 403, JSON.stringify(refused));
    assert.match(refused.body, /vm_can_edit/);
    const log = await fetch(`${p.controllerUrl}/console/${ws}/${name}/log/`, { headers: { token: viewer } });
    assert.equal(log.status, 403);
  });

  test('the console carries a typed command and its output, and two users both see it', async () => {
    const a = await openConsole(consoleUrl, token);
    const b = await openConsole(consoleUrl, token);
    assert.ok('ws' in a && 'ws' in b, 'both opened');
    try {
      a.ws.send('\r');
      let at = await a.waitFor(/login: /);
      await b.waitFor(/login: /);
      a.ws.send('root\r');
      at = await a.waitFor(/Password: /, at);
      a.ws.send(`${PASSWORD}\r`);
      at = await a.waitFor(new RegExp(`${name}:~# `), at);
      // Typed by b: both see the command's output (6*7 is computed by the guest's shell, not echoed).
      const from = b.text().length;
      b.ws.send('echo kloudak-$((6*7)) on $(hostname)\r');
      await b.waitFor(new RegExp(`kloudak-42 on ${name}`), from);
      await a.waitFor(new RegExp(`kloudak-42 on ${name}`), at);
    } finally {
      a.ws.close();
      b.ws.close();
    }
    // The log on the pool holds what the console showed, and the API answers it as text.
    const r = await fetch(`${p.controllerUrl}/console/${ws}/${name}/log/`, { headers: { token } });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /text\/plain/);
    const text = await r.text();
    assert.match(text, new RegExp(`kloudak-guest up ${name}`));
    assert.match(text, /kloudak-42 on /);
  });

  test('the CLI: kloudak vm console carries a typed command, Ctrl-] leaves, --log prints the output', async () => {
    ({ env, home: cliHome } = cliEnv());
    const login = await kloudak(env, [
      'login',
      '--user',
      user,
      '--password',
      `${user}-password`,
      '--inventory',
      p.inv.url,
      '--controller',
      p.controllerUrl,
      '--notification',
      p.notificationUrl,
    ]);
    assert.equal(login.code, 0, login.stderr);
    // The real bin with its stdin a pipe (no terminal): what it prints is the console's output.
    const child = spawn(process.execPath, [BIN, 'vm', 'console', name, '-w', ws], { env });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const shows = (re: RegExp, from = 0) =>
      until(`${re} from kloudak vm console`, () => re.exec(out.slice(from)) ?? undefined, 30_000, 100);
    try {
      await until('connected', () => /connected to the console/.test(err) || undefined, 30_000, 100);
      // The shell an earlier test logged in may still be there; else log in again.
      const prompt = new RegExp(`${name}:~# `);
      const seen = await until(
        'a prompt',
        () => {
          child.stdin.write('\r');
          return /login: |:~# /.exec(out) ?? undefined;
        },
        60_000,
        2000,
      );
      if (seen[0] === 'login: ') {
        child.stdin.write('root\r');
        await shows(/Password: /);
        child.stdin.write(`${PASSWORD}\r`);
        await shows(prompt);
      }
      const from = out.length;
      child.stdin.write('echo cli-$((5*5))\r');
      await shows(/cli-25/, from);
      child.stdin.write(Buffer.from([0x1d]));
      assert.equal(await exited, 0, err);
      assert.match(err, /left the console/);
    } finally {
      child.kill();
    }
    const log = await kloudak(env, ['vm', 'console', '--log', name, '-w', ws]);
    assert.equal(log.code, 0, log.stderr);
    assert.match(log.stdout, /cli-25/);
    // The wrong state through the CLI: exit 2 and the controller's words.
    const again = await kloudak(env, ['vm', 'power', name, 'start', '-w', ws]);
    assert.equal(again.code, 2, again.stderr);
    assert.match(again.stderr, /is U \(up\)/);
  });

  test('stop: the guest powers off by itself (its console says so), stops answering, the record says D', async () => {
    assert.equal(await answers(ip), true, 'the guest answers before the stop');
    const before = log().length;
    const t = await finish(await power('stop', { timeout: 60 }), 'stop');
    assert.equal(t.stage, 'D');
    assert.match(log().slice(before), /kloudak-guest: powering off/, 'graceful: the guest ran its shutdown');
    assert.equal((await record()).state, 'D');
    assert.equal(await answers(ip, 5), false, 'a stopped guest does not answer');
    // Wrong states are 409 naming the state; no console on a stopped VM.
    for (const action of ['stop', 'reboot', 'off']) {
      const r = await power(action);
      assert.equal(r.status, 409, action);
      assert.match(r.body.error, /is D \(down\)/);
    }
    const c = await openConsole(consoleUrl, token);
    assert.ok('status' in c && c.status === 409, JSON.stringify(c));
  });

  test('start brings it back: up line, record U, it answers', async () => {
    const ups = upLines();
    // Through the CLI: it follows the task and exits 0 once the VM is up.
    const r = await kloudak(env, ['vm', 'power', name, 'start', '--wait', '-w', ws], 150_000);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /vm .*: U /);
    assert.equal((await record()).state, 'U');
    await until('a new up line', () => upLines() > ups || undefined, BOOT_TIMEOUT, 500);
    await until('the guest to answer', async () => (await answers(ip)) || undefined, 30_000, 500);
    const again = await power('start');
    assert.equal(again.status, 409);
    assert.match(again.body.error, /is U \(up\)/);
  });

  test('resize: refused sizes name the field; the resized guest reports its new memory', async () => {
    for (const [update_dict, field] of [
      [{ cpu: 3 }, 'update_dict.cpu'],
      [{ ram: 3 }, 'update_dict.ram'],
      [{ ram: 0 }, 'update_dict.ram'],
    ] as const) {
      const r = await call('PUT', '/vms/', { owner: ws, name, update_dict });
      assert.equal(r.status, 400, JSON.stringify(update_dict));
      assert.equal(r.body.field, field);
    }
    const before = guestFacts(log());
    assert.ok(before, 'the guest told its size at boot');
    const mark = log().length;
    // 96 MiB (the template's) to 160 MiB, and a second vCPU.
    await finish(
      await call('PUT', '/vms/', { owner: ws, name, update_dict: { cpu: 2, ram: 0.15625 } }),
      'resize',
    );
    const vm = await record();
    assert.deepEqual({ cpu: vm.cpu, ram: vm.ram, state: vm.state }, { cpu: 2, ram: 0.15625, state: 'U' });
    await until(
      'the facts line of the boot after the resize',
      () => guestFacts(log().slice(mark)),
      BOOT_TIMEOUT,
      500,
    );
    const after = guestFacts(log().slice(mark))!;
    assert.equal(after.cpus, 2);
    // 64 MiB more memory shows as about 64 MiB more MemTotal (the kernel keeps a little of it).
    const grew = after.memKib - before.memKib;
    assert.ok(grew > 60 * 1024 && grew <= 64 * 1024, `MemTotal grew by ${grew} kB`);
    // Started again by the resize, its public port is a new OpenFlow port: the network step secured it again.
    await until('the resized guest to answer', async () => (await answers(ip)) || undefined, 60_000, 500);
  });

  test('reboot: the guest boots again (its disk counts the boot), record U', async () => {
    const boots = bootCount(log());
    assert.ok(boots !== undefined, 'the disk counted boots');
    const mark = log().length;
    await finish(await power('reboot', { timeout: 60 }), 'reboot');
    assert.equal((await record()).state, 'U');
    await until('the next boot count', () => bootCount(log().slice(mark)), BOOT_TIMEOUT, 500);
    assert.equal(bootCount(log().slice(mark)), boots + 1);
    assert.match(log().slice(mark), /kloudak-guest: powering off/, 'the reboot stopped the guest gracefully');
  });

  test('a guest that powers itself off is D, without any task (the power sync reads the host)', async () => {
    await until('the guest up again', () => upLines() >= 3 || undefined, BOOT_TIMEOUT, 500);
    const c = await openConsole(consoleUrl, token);
    assert.ok('ws' in c);
    try {
      c.ws.send('\r');
      let at = await c.waitFor(/login: /);
      c.ws.send('root\r');
      at = await c.waitFor(/Password: /, at);
      c.ws.send(`${PASSWORD}\r`);
      at = await c.waitFor(new RegExp(`${name}:~# `), at);
      c.ws.send('poweroff\r');
      await c.waitFor(/kloudak-guest: powering off/, at);
    } finally {
      c.ws.close();
    }
    await until('the record to say D', async () => (await record()).state === 'D' || undefined, 60_000, 500);
    const tasks = await call('GET', `/tasks/${ws}/`);
    assert.equal(
      tasks.body.tasks.filter(
        (t: { method: string; status: string }) => t.method === 'POWER' && t.status !== 'successful',
      ).length,
      0,
      'no task did it',
    );
    // And it starts again from there.
    await finish(await power('start'), 'start after poweroff');
    assert.equal((await record()).state, 'U');
  });
});
