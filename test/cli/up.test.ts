// Issue 8, one machine: `kloudak up` runs every service in one process on the embedded backends, prints the
// dashboard URL and the admin credentials, stops cleanly on Ctrl-C (SIGINT), and keeps its data when started
// again. Ports are moved off the defaults, so the services must find each other by the ports alone. The lab
// is off here (the system tests own this machine's lab); its registration is tested on the lab itself.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { callJson } from '../support/http.ts';
import { freePort } from '../support/cluster.ts';
import { uniqueName } from '../support/env.ts';
import { BIN, cliEnv } from './support.ts';

interface Up {
  child: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

describe('kloudak up on one machine', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'kloudak-up-'));
  let running: Up | undefined;
  after(() => {
    running?.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function up(env: NodeJS.ProcessEnv): Promise<Up> {
    const child = spawn(process.execPath, [BIN, 'up', '--no-lab'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const chunks: string[] = [];
    child.stdout.on('data', (b) => chunks.push(String(b)));
    child.stderr.on('data', (b) => chunks.push(String(b)));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const u = { child, out: () => chunks.join(''), exited };
    running = u;
    const deadline = Date.now() + 120_000;
    // The summary's last line says how to stop: everything above it is printed by then.
    while (!u.out().includes('Ctrl-C stops every service')) {
      if (child.exitCode !== null) throw new Error(`kloudak up exited ${child.exitCode}:\n${u.out()}`);
      if (Date.now() > deadline) throw new Error(`kloudak up printed no summary within 120 s:\n${u.out()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    return u;
  }

  async function interrupt(u: Up) {
    u.child.kill('SIGINT');
    const code = await Promise.race([
      u.exited,
      new Promise<'hung'>((r) => setTimeout(() => r('hung'), 60_000)),
    ]);
    assert.equal(code, 0, `Ctrl-C ends kloudak up with 0, within 60 s:\n${u.out().slice(-3000)}`);
    running = undefined;
  }

  test(
    'prints the dashboard and the admin, serves every API, stops on Ctrl-C and keeps its data',
    { timeout: 400_000 },
    async () => {
      const [inventory, controller, notification, stats] = await Promise.all([
        freePort(),
        freePort(),
        freePort(),
        freePort(),
      ]);
      const { env } = cliEnv();
      Object.assign(env, {
        KLOUDAK_DATA_DIR: dataDir,
        KLOUDAK_BIND: '127.0.0.1',
        KLOUDAK_INVENTORY_PORT: String(inventory),
        KLOUDAK_CONTROLLER_PORT: String(controller),
        KLOUDAK_NOTIFICATION_PORT: String(notification),
        KLOUDAK_STATS_PORT: String(stats),
        KLOUDAK_LOG_LEVEL: 'warn',
      });
      const inv = `http://127.0.0.1:${inventory}`;
      const ctl = `http://127.0.0.1:${controller}`;

      const first = await up(env);
      assert.match(first.out(), new RegExp(`Dashboard: ${inv}/`));
      const admin = /Admin: +admin \/ (\S+) +\(generated now; kept in (\S+)\)/.exec(first.out());
      assert.ok(admin, `the generated admin password is printed:\n${first.out()}`);
      const [, password, file] = admin;
      assert.equal(file, join(dataDir, 'admin-password'));
      assert.equal(statSync(file).mode & 0o777, 0o600, 'the kept password is readable by its owner only');
      assert.match(
        first.out(),
        new RegExp(
          `kloudak login --user admin --inventory ${inv} --controller ${ctl} --notification ws://127\\.0\\.0\\.1:${notification}`,
        ),
      );
      assert.match(await (await fetch(`${inv}/`)).text(), /<div id="root">/, 'the dashboard is served');

      // Every service answers, and they reach each other: a network task goes controller -> bus -> network
      // -> controller and ends successful.
      const login = async () =>
        (
          await callJson<{ token?: string }>('POST', `${inv}/login/`, {
            body: { username: 'admin', password },
          })
        ).body.token;
      let token = await login();
      assert.ok(token, 'the printed password logs in');
      const ws = uniqueName('upws');
      const net = uniqueName('n');
      assert.equal((await callJson('POST', `${inv}/workspaces/`, { token, body: { name: ws } })).status, 201);
      // A token carries the workspaces of its moment: log in again to act in the new one.
      token = await login();
      const made = await callJson<{ task_id: string }>('POST', `${ctl}/networks/`, {
        token,
        body: { owner: ws, name: net },
      });
      assert.equal(made.status, 202, JSON.stringify(made.body));
      const task = await callJson<{ status: string }>('GET', `${ctl}/task/${made.body.task_id}/?wait=60`, {
        token,
        timeout: 70,
      });
      assert.equal(task.body.status, 'successful', JSON.stringify(task.body));
      assert.equal((await fetch(`http://127.0.0.1:${stats}/healthz`)).status, 200, 'monitoring stats API');
      await interrupt(first);

      const second = await up(env);
      assert.match(
        second.out(),
        /Admin: +admin \(password in \S+admin-password\)/,
        'the password is not printed again',
      );
      assert.ok(!second.out().includes(password), 'nor anywhere else');
      const again = await login();
      assert.ok(again, 'the same admin password still logs in');
      const kept = await callJson<{ name: string }>('GET', `${inv}/${ws}/networks/${net}/`, { token: again });
      assert.equal(kept.status, 200, 'the network made before the restart is still there');
      assert.equal(kept.body.name, net);
      await interrupt(second);
    },
  );
});
