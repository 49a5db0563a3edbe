// Issue 12, as a new user meets it: docs/lab.md's failover walk-through with the CLI only. `kloudak up
// --hosts 2` runs as a process on the machine's lab; the user logs in with the line it prints, makes a
// workspace and a VM (serving a page over TCP), cuts the VM's host with `kloudak lab cut`, and watches
// `kloudak vm show` bring the VM back on the other host, where the same address serves the same page.
// On the same process and VM (item 1): the VM's and its host's usage come through inventory's stats
// forwarder within two monitoring cycles, in a form the dashboard's charts draw.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labRestoreHost, type LabStatus } from '../../src/lab/index.ts';
import { createVirshHypervisor } from '../../src/compute/hypervisor.ts';
import { seriesOf } from '../../web/src/series.ts';
import { BIN, cliEnv, kloudak, type CliResult } from '../cli/support.ts';
import { freePort } from '../support/cluster.ts';
import { uniqueName } from '../support/env.ts';
import { ensureLab, LAB_DIR } from '../support/lab.ts';
import { until } from '../support/platform.ts';

const MONITOR_INTERVAL_S = 5;
const hv = createVirshHypervisor(30_000);

/** The page a guest serves on port 8080, as the machine reads it over TCP ('' when it does not answer). */
function page(ip: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: ip, port: 8080, timeout: 5000 });
    let body = '';
    s.on('connect', () => s.write('GET / HTTP/1.0\r\n\r\n'));
    s.on('data', (d) => (body += String(d)));
    s.on('end', () => resolve(body));
    s.on('timeout', () => s.destroy());
    s.on('error', () => resolve(''));
    s.on('close', () => resolve(body));
  });
}

describe('the failover walk-through of docs/lab.md, with the CLI only', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'kloudak-walkthrough-'));
  const { env, home } = cliEnv();
  // The user's shell: the data dir and lab of `kloudak up`, so `kloudak lab cut` finds the lab.
  Object.assign(env, { KLOUDAK_DATA_DIR: dataDir, KLOUDAK_LAB_DIR: LAB_DIR });
  const cli = (...args: string[]): Promise<CliResult> => kloudak(env, args, 180_000);
  const ok = async (...args: string[]): Promise<string> => {
    const r = await cli(...args);
    assert.equal(r.code, 0, `kloudak ${args.join(' ')}: exit ${r.code}\n${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  let lab: LabStatus;
  let up: ChildProcess | undefined;
  let output = '';
  let cut: string | undefined;
  let domain: string | undefined;

  before(async () => {
    // The machine's one lab (scripts/test.sh holds its lock); `kloudak up` adopts it through KLOUDAK_LAB_DIR.
    lab = await ensureLab(2);
  });
  after(async () => {
    if (cut) await labRestoreHost(LAB_DIR, cut).catch(() => undefined);
    if (up && up.exitCode === null) {
      const exited = new Promise((r) => up?.once('exit', r));
      up.kill('SIGINT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
      if (up.exitCode === null) up.kill('SIGKILL');
    }
    // A failed run leaves no guest behind on the shared lab.
    if (domain)
      for (const h of lab?.hosts ?? []) {
        await hv.destroy(h.uri, domain).catch(() => undefined);
        await hv.undefine(h.uri, domain).catch(() => undefined);
      }
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  });

  test(
    'kloudak up --hosts 2, a VM, kloudak lab cut its host: the VM comes back on the other one',
    { timeout: 900_000 },
    async (t) => {
      const [inventory, controller, notification, stats] = await Promise.all([
        freePort(),
        freePort(),
        freePort(),
        freePort(),
      ]);
      const upEnv = {
        ...env,
        KLOUDAK_BIND: '127.0.0.1',
        KLOUDAK_INVENTORY_PORT: String(inventory),
        KLOUDAK_CONTROLLER_PORT: String(controller),
        KLOUDAK_NOTIFICATION_PORT: String(notification),
        KLOUDAK_STATS_PORT: String(stats),
        KLOUDAK_MONITOR_INTERVAL: String(MONITOR_INTERVAL_S),
        KLOUDAK_LOG_LEVEL: 'warn',
      };
      const child = spawn(process.execPath, [BIN, 'up', '--hosts', '2'], {
        env: upEnv,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      up = child;
      child.stdout.on('data', (b) => (output += String(b)));
      child.stderr.on('data', (b) => (output += String(b)));
      await until(
        'kloudak up to print its summary',
        () => {
          if (child.exitCode !== null) throw new Error(`kloudak up exited ${child.exitCode}:\n${output}`);
          return output.includes('Ctrl-C stops every service') || undefined;
        },
        300_000,
        250,
      );
      assert.match(
        output,
        /Lab hosts kl-h1, kl-h2 registered: area lab, pool lab-pool, template kloudak-test/,
      );

      // The user logs in with the line `up` printed, and the password it generated.
      const password = /Admin: +admin \/ (\S+)/.exec(output)?.[1];
      assert.ok(password, `the admin password is printed:\n${output}`);
      const loginLine = /CLI: +kloudak (login .*)$/m.exec(output)?.[1];
      assert.ok(loginLine, `the login line is printed:\n${output}`);
      await ok(...loginLine.trim().split(/\s+/), '--password', password);
      const ws = uniqueName('demo');
      await ok('workspaces', 'create', ws);
      // The default group lets in only its own members: the page on 8080 is opened to everyone.
      await ok(
        'sg',
        'update',
        'default',
        '-r',
        'egress:any',
        '-r',
        'ingress:any::default',
        '-r',
        'ingress:tcp:8080',
        '--wait',
      );
      // Item 7: sizes in human units.
      assert.match(await ok('templates', 'list'), /^kloudak-test\s+busybox\s+1\s+96 MiB\s+128 MiB\s/m);

      await ok(
        'vm',
        'create',
        'web',
        '--template',
        'kloudak-test',
        '--password',
        'pw-123456',
        '--runcmd',
        'mkdir -p /www && echo walkthrough-web >/www/index.html && httpd -p 8080 -h /www',
        '--wait',
      );
      const first = JSON.parse(await ok('vm', 'show', 'web', '--json')) as {
        state: string;
        host: string;
        ip: string;
      };
      // The VM's domain (and its console file on the pool) is named by its create task (README quick tour).
      const tasks = JSON.parse(await ok('tasks', 'list', '--json')) as {
        task_id: string;
        type: string;
        method: string;
        object: string;
      }[];
      const created = tasks.find((x) => x.type === 'vm' && x.method === 'POST' && x.object === 'web');
      assert.ok(created, `the create task is listed: ${JSON.stringify(tasks)}`);
      domain = `kloudak-${created.task_id}`;
      assert.equal(first.state, 'U');
      const uriOf = (host: string) => lab.hosts.find((h) => h.name === host)!.uri;
      assert.ok((await hv.list(uriOf(first.host))).includes(domain), `${domain} runs on ${first.host}`);
      const other = first.host === 'kl-h1' ? 'kl-h2' : 'kl-h1';
      const runningAt = Date.now();

      // Item 1: usage through inventory's stats forwarder, within two monitoring cycles of the VM running
      // (plus room for a busy machine), with the token `kloudak login` keeps.
      const { token } = JSON.parse(readFileSync(join(home, 'kloudak', 'config.json'), 'utf8')) as {
        token: string;
      };
      const inv = `http://127.0.0.1:${inventory}`;
      const stat = async (path: string) => {
        const r = await fetch(`${inv}/api/stats${path}`, { headers: { token } });
        return r.status === 200 ? ((await r.json()) as { samples?: Record<string, unknown>[] }) : undefined;
      };
      const budget = 2 * MONITOR_INTERVAL_S * 1000 + 20_000;
      const vmUsage = await until(
        "the VM's usage through inventory",
        async () => {
          const s = await stat(`/vms/${ws}/web/`);
          return s?.samples?.some((x) => Number(x.rss_kib) > 0) ? s : undefined;
        },
        budget - (Date.now() - runningAt),
        500,
      );
      const hostUsage = await until(
        "the VM's host's usage through inventory",
        async () => {
          const s = await stat(`/hosts/${first.host}/`);
          return s?.samples?.some((x) => Number(x.alloc_mib) >= 96) ? s : undefined;
        },
        Math.max(1000, budget - (Date.now() - runningAt)),
        500,
      );
      assert.ok(seriesOf(vmUsage).length > 0, 'the VM page draws its chart');
      assert.ok(seriesOf(hostUsage).length > 0, 'the hosts page draws its chart');
      t.diagnostic(`usage of the VM and ${first.host} through inventory after ${Date.now() - runningAt} ms`);

      // The guest answers over TCP from the machine.
      await until(
        'the guest to serve its page',
        async () => (await page(first.ip)).includes('walkthrough-web') || undefined,
        120_000,
        1000,
      );

      // Pull the host's cables: monitoring notices, compute fences the old copy and starts the VM on the other.
      await ok('lab', 'cut', first.host);
      cut = first.host;
      const cutAt = Date.now();
      const moved = await until(
        `web back up on ${other}`,
        async () => {
          const r = await cli('vm', 'show', 'web', '--json');
          if (r.code !== 0) return undefined;
          const v = JSON.parse(r.stdout) as typeof first;
          return v.host === other && v.state === 'U' ? v : undefined;
        },
        300_000,
        2000,
      );
      assert.equal(moved.ip, first.ip, 'the same address');
      await until(
        `the page served again from ${other}`,
        async () => (await page(first.ip)).includes('walkthrough-web') || undefined,
        120_000,
        1000,
      );
      t.diagnostic(
        `web serves again from ${other} ${((Date.now() - cutAt) / 1000).toFixed(1)} s after the cut`,
      );
      const table = await ok('vm', 'list');
      assert.match(table, new RegExp(`^web\\s+U\\s+${first.ip.replace(/\./g, '\\.')}\\s+${other}\\s`, 'm'));

      // Plug it back in; the stale copy there is destroyed, the VM stays where it runs.
      await ok('lab', 'restore', first.host);
      cut = undefined;
      await until(
        `the stale copy on ${first.host} gone`,
        async () => !(await hv.list(uriOf(first.host))).includes(domain!) || undefined,
        120_000,
        2000,
      );
      assert.equal((JSON.parse(await ok('vm', 'show', 'web', '--json')) as typeof first).host, other);

      await ok('vm', 'delete', 'web', '--wait');
      domain = undefined;
      child.kill('SIGINT');
      const code = await new Promise<number | null>((r) => child.once('exit', r));
      assert.equal(code, 0, `Ctrl-C ends kloudak up with 0:\n${output.slice(-3000)}`);
    },
  );
});
