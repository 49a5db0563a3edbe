// Issue 8 "Must show": every service as its own process -- two instances each of controller, compute,
// network and notification, three of monitoring -- on real PostgreSQL, RabbitMQ, Redis and ZooKeeper and a lab
// of two hosts. A VM create and delete through the CLI with --wait succeed, and SIGKILL of one instance of
// each service during a create does not stop it from finishing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { LabStatus } from '../../src/lab/index.ts';
import { callJson } from '../support/http.ts';
import { cliEnv, kloudak } from '../cli/support.ts';
import { isAlive, startCluster, type Cluster } from '../support/cluster.ts';
import { uniqueName } from '../support/env.ts';
import { ensureLab, labConfig, labDomains, readConsole, registerTestLab } from '../support/lab.ts';
import { until } from '../support/platform.ts';

describe('a distributed deployment (every service its own process)', () => {
  let lab: LabStatus;
  let cluster: Cluster;
  const { env } = cliEnv();
  const ws = uniqueName('dist');

  before(async () => {
    lab = await ensureLab(2);
    const labEnv = Object.fromEntries(Object.entries(labConfig(lab)).map(([k, v]) => [`KLOUDAK_${k}`, v]));
    cluster = await startCluster(
      { notification: 2, controller: 2, compute: 2, network: 2, monitoring: 3 },
      labEnv,
    );
    const admin = (
      await callJson('POST', `${cluster.inventoryUrl}/login/`, {
        body: { username: 'admin', password: cluster.adminPassword },
      })
    ).body.token;
    await registerTestLab(lab, cluster.inventoryUrl, admin);
    const user = uniqueName('u');
    await callJson('POST', `${cluster.inventoryUrl}/signup/`, {
      body: { username: user, password: `${user}-password`, email: `${user}@example.test` },
    });
    const login = await kloudak(env, [
      'login',
      '--user',
      user,
      '--password',
      `${user}-password`,
      '--inventory',
      cluster.inventoryUrl,
      '--controller',
      cluster.controllerUrls[0],
      '--notification',
      cluster.notificationUrls[0],
    ]);
    assert.equal(login.code, 0, login.stderr);
    assert.equal((await kloudak(env, ['workspaces', 'create', ws])).code, 0);
  });
  after(async () => {
    const vms = await kloudak(env, ['vm', 'list', '--json', '-w', ws]).catch(() => undefined);
    for (const v of vms?.code === 0 ? (JSON.parse(vms.stdout) as { name: string }[]) : [])
      await kloudak(env, ['vm', 'delete', v.name, '-w', ws, '--wait']);
    await cluster?.stop();
  });

  test('VM create and delete through the CLI with --wait', async () => {
    const name = uniqueName('vm');
    const made = await kloudak(
      env,
      [
        'vm',
        'create',
        name,
        '-w',
        ws,
        '--template',
        'kloudak-test',
        '--area',
        'lab',
        '--password',
        'pw-secret',
        '--wait',
      ],
      180_000,
    );
    assert.equal(made.code, 0, made.stderr);
    const show = JSON.parse((await kloudak(env, ['vm', 'show', name, '-w', ws, '--json'])).stdout);
    assert.equal(show.state, 'U');
    const gone = await kloudak(env, ['vm', 'delete', name, '-w', ws, '--wait'], 120_000);
    assert.equal(gone.code, 0, gone.stderr);
    assert.equal((await kloudak(env, ['vm', 'show', name, '-w', ws])).code, 4);
  });

  test('SIGKILL of one instance of each service during a create does not stop it', async (t) => {
    try {
      await createWhileKilling();
    } catch (e) {
      t.diagnostic(cluster.logs());
      throw e;
    }
  });

  async function createWhileKilling() {
    // A process that died on its own before the kills would make this test prove less than it says.
    assert.deepEqual(
      cluster.procs.filter((p) => !isAlive(p)).map((p) => `${p.service}#${p.index}`),
      [],
      'every instance up',
    );
    const name = uniqueName('vm');
    const create = kloudak(
      env,
      [
        'vm',
        'create',
        name,
        '-w',
        ws,
        '--template',
        'kloudak-test',
        '--area',
        'lab',
        '--password',
        'pw-secret',
        '--wait',
      ],
      240_000,
    );
    // The CLI talks to controller 0 and notification 0; the second instance of each, one compute, one
    // network and the monitoring leader (or any) die while the task is on its way.
    const victims = ['controller', 'notification', 'compute', 'network', 'monitoring'].map((s) =>
      cluster.procs.find(
        (p) => p.service === s && p.index === (s === 'controller' || s === 'notification' ? 1 : 0),
      )!,
    );
    await new Promise((r) => setTimeout(r, 1500));
    for (const v of victims) await cluster.kill(v);
    const made = await create;
    assert.equal(made.code, 0, `${made.stdout}\n${made.stderr}`);
    const show = JSON.parse((await kloudak(env, ['vm', 'show', name, '-w', ws, '--json'])).stdout);
    assert.equal(show.state, 'U');
    const domains = [...(await labDomains(lab)).values()].flat();
    const tasks = JSON.parse((await kloudak(env, ['tasks', 'list', '-w', ws, '--json'])).stdout) as {
      object: string;
      task_id: string;
      method: string;
    }[];
    const task = tasks.find((t) => t.object === name && t.method === 'POST')!;
    assert.equal(domains.filter((d) => d === `kloudak-${task.task_id}`).length, 1, 'one domain');
    await until(
      'the guest up line',
      () => readConsole(lab, task.task_id).includes(`kloudak-guest up ${name} ${show.ip}`) || undefined,
      120_000,
      500,
    );
    const gone = await kloudak(env, ['vm', 'delete', name, '-w', ws, '--wait'], 120_000);
    assert.equal(gone.code, 0, gone.stderr);
  }
});
