// Issue 4 "Must show", on a lab of two real hosts: a VM created through the controller boots and reports
// the address inventory gave it; delete leaves nothing; a missing template disk rolls back cleanly; a compute
// worker killed after define does not make a second domain.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createCompute, type Compute } from '../../src/compute/service.ts';
import { reconcileOnce } from '../../src/compute/reconcile.ts';
import { createNetworkService, type NetworkService } from '../../src/network/service.ts';
import { createLogger } from '../../src/lib/log.ts';
import type { LabStatus } from '../../src/lab/index.ts';
import { uniqueName } from '../support/env.ts';
import {
  clearPortSecurity,
  destroyComputeVms,
  ensureLab,
  labConfig,
  labDomains,
  readConsole,
  registerTestLab,
  vmDirExists,
} from '../support/lab.ts';
import { joinRoom, startPlatform, until, type TestPlatform } from '../support/platform.ts';

const BOOT_TIMEOUT = 90_000;

async function setup(p: TestPlatform, lab: LabStatus) {
  const admin = await p.inv.adminToken();
  await registerTestLab(lab, p.inv.url, admin);
  const ws = uniqueName('ws');
  const user = uniqueName('u');
  await p.inv.user(user);
  await p.inv.call('POST', '/workspaces/', await p.inv.login(user), { name: ws });
  return { ws, admin, token: await p.inv.login(user) };
}

async function allDomains(lab: LabStatus): Promise<string[]> {
  return [...(await labDomains(lab)).values()].flat();
}

// Every VM has a network step (its public port's anti-spoofing rules): the network service runs too.
const networkFor = (p: TestPlatform) =>
  createNetworkService({
    config: p.serviceConfig({ RECONCILE_INTERVAL: '3600' }),
    log: createLogger('network', process.env.KLOUDAK_TEST_LOG ?? 'silent'),
    bus: p.bus,
  });

describe('compute on a lab of two hosts (PGlite, in-process bus)', () => {
  let lab: LabStatus;
  let p: TestPlatform;
  let compute: Compute;
  let network: NetworkService;

  before(async () => {
    lab = await ensureLab(2);
    p = await startPlatform('pglite', 'memory', labConfig(lab));
    const config = p.serviceConfig({ RECONCILE_INTERVAL: '3600' });
    compute = await createCompute({
      config,
      log: createLogger('compute', process.env.KLOUDAK_TEST_LOG ?? 'silent'),
      bus: p.bus,
    });
    network = await networkFor(p);
  });
  after(async () => {
    if (compute) await destroyComputeVms(compute);
    await compute?.close();
    await network?.close();
    if (lab) await clearPortSecurity(lab);
    await p?.close();
  });

  test('a VM boots with the address inventory gave it, reaches U, and delete leaves nothing', async () => {
    const { ws, token } = await setup(p, lab);
    const name = uniqueName('vm');
    const r = await p.call('POST', '/vms/', token, {
      name,
      owner: ws,
      area: 'lab',
      template: 'kloudak-test',
      password: 'pw-secret',
    });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const task = r.body.task_id as string;
    const line = `kloudak-guest up ${name} ${r.body.ip}`;
    await until(
      `${line} on the console`,
      () => readConsole(lab, task).includes(line) || undefined,
      BOOT_TIMEOUT,
      500,
    );
    const t = await p.call('GET', `/task/${task}/?wait=30`, token);
    assert.equal(t.body.status, 'successful', JSON.stringify(t.body));
    const vm = await p.inv.call('GET', `/${ws}/vms/${name}/`, token);
    assert.equal(vm.body.state, 'U');
    assert.equal(vm.body.ip, r.body.ip);
    assert.ok(lab.hosts.some((h) => h.name === vm.body.host));
    assert.ok((await allDomains(lab)).includes(`kloudak-${task}`));

    const d = await p.call('DELETE', '/vms/', token, { owner: ws, name });
    assert.equal(d.status, 202);
    const dt = await p.call('GET', `/task/${d.body.task_id}/?wait=60`, token);
    assert.equal(dt.body.status, 'successful', JSON.stringify(dt.body));
    assert.ok(!(await allDomains(lab)).includes(`kloudak-${task}`), 'domain gone');
    assert.equal(vmDirExists(lab, task), false, 'disk, seed and console gone');
    assert.equal((await p.inv.call('GET', `/${ws}/vms/${name}/`, token)).status, 404);
  });

  test('a template pointing at a missing disk: retries, rollback, nothing left, the room told', async () => {
    const { ws, token, admin } = await setup(p, lab);
    const template = uniqueName('broken');
    const made = await p.inv.call('POST', '/templates/', admin, {
      name: template,
      cpu: 1,
      ram: 0.0625,
      disk: 0.125,
      image: 'templates/missing/disk.qcow2',
    });
    assert.equal(made.status, 201);
    const room = await joinRoom(p.notificationUrl, ws, token);
    try {
      const r = await p.call('POST', '/vms/', token, {
        name: uniqueName('vm'),
        owner: ws,
        area: 'lab',
        template,
        password: 'pw',
      });
      assert.equal(r.status, 202);
      const t = await p.call('GET', `/task/${r.body.task_id}/?wait=60`, token);
      assert.equal(t.body.status, 'rolled_back', JSON.stringify(t.body));
      assert.match(t.body.error, /missing/);
      assert.equal(t.body.deliveries, 4, 'three attempts and the rollback');
      assert.ok(!(await allDomains(lab)).includes(`kloudak-${r.body.task_id}`));
      assert.equal(vmDirExists(lab, r.body.task_id), false);
      await until('the failure in the room', () =>
        room.messages.find((m) => m.task_id === r.body.task_id && m.status === 'rolled_back'),
      );
    } finally {
      room.close();
    }
  });
});

describe('compute reconciliation', () => {
  let lab: LabStatus;
  let p: TestPlatform;
  let compute: Compute;
  let network: NetworkService;

  before(async () => {
    lab = await ensureLab(2);
    p = await startPlatform('pglite', 'memory', labConfig(lab));
    compute = await createCompute({
      config: p.serviceConfig({ RECONCILE_INTERVAL: '3600' }),
      log: createLogger('compute', 'silent'),
      bus: p.bus,
    });
    network = await networkFor(p);
  });
  after(async () => {
    if (compute) await destroyComputeVms(compute);
    await compute?.close();
    await network?.close();
    if (lab) await clearPortSecurity(lab);
    await p?.close();
  });

  test('a stray VM directory and a VM whose workspace was deleted are removed after the grace period', async () => {
    const { ws, token } = await setup(p, lab);
    const r = await p.call('POST', '/vms/', token, {
      name: uniqueName('vm'),
      owner: ws,
      area: 'lab',
      template: 'kloudak-test',
      password: 'pw',
    });
    assert.equal((await p.call('GET', `/task/${r.body.task_id}/?wait=60`, token)).body.status, 'successful');
    const stray = join(lab.pool.localPath, 'vms', `kloudak-${uniqueName('stray')}`);
    mkdirSync(stray, { recursive: true });
    // The records go behind compute's back (as a teardown whose VM delete was lost would leave them):
    // marked being deleted, then removed, as the controller's teardown does last.
    const controller = await p.inv.serviceToken('controller');
    assert.equal((await p.inv.call('PUT', `/workspaces/${ws}/`, controller, { state: 'X' })).status, 200);
    assert.equal((await p.inv.call('DELETE', `/workspaces/${ws}/`, controller)).status, 200);
    const patient = await reconcileOnce(compute.ctx);
    assert.ok(
      patient.orphans.some((o) => o.kind === 'record' && o.ref === `kloudak-${r.body.task_id}`),
      'the VM is reported',
    );
    assert.ok(
      patient.orphans.some((o) => o.kind === 'dir' && o.ref.endsWith(basename(stray))),
      'the directory is reported',
    );
    assert.deepEqual(patient.removed, [], 'nothing removed within the grace period');
    const now = await reconcileOnce({ ...compute.ctx, config: { ...compute.ctx.config, ORPHAN_GRACE: 0 } });
    assert.ok(now.removed.some((o) => o.kind === 'record'));
    assert.equal(existsSync(stray), false);
    assert.ok(!(await allDomains(lab)).includes(`kloudak-${r.body.task_id}`));
    assert.equal(vmDirExists(lab, r.body.task_id), false);
  });
});

describe('compute killed after define (PostgreSQL, RabbitMQ, compute in its own process)', () => {
  let lab: LabStatus;
  let p: TestPlatform;
  const children: ChildProcess[] = [];

  const startComputeProcess = async () => {
    const env: Record<string, string> = { ...(process.env as Record<string, string>) };
    for (const [k, v] of Object.entries({
      ...labConfig(lab),
      DATA_DIR: p.config.DATA_DIR,
      INVENTORY_URL: p.config.INVENTORY_URL,
      SERVICE_SECRET: p.config.SERVICE_SECRET!,
      BUS: p.config.BUS!,
      COMPUTE_DB: computeDb,
      LOG_LEVEL: 'warn',
      RECONCILE_INTERVAL: '3600',
    }))
      env[`KLOUDAK_${k}`] = v;
    for (const k of Object.keys(env)) if (k.startsWith('KLOUDAK_TEST')) delete env[k];
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/compute-proc.ts'], {
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (b) => String(b).includes('compute ready') && resolve());
      child.once('exit', (c) => reject(new Error(`compute exited ${c}`)));
    });
    return child;
  };
  let computeDb = '';
  let network: NetworkService | undefined;

  before(async () => {
    lab = await ensureLab(2);
    p = await startPlatform('postgres', 'amqp', labConfig(lab));
    computeDb = `${process.env.KLOUDAK_TEST_PG ?? 'postgres://postgres:kloudak@127.0.0.1:5432'}/${uniqueName('kcmp').replace(/-/g, '_')}`;
    network = await networkFor(p);
  });
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await network?.close();
    if (lab) await clearPortSecurity(lab);
    await p?.close();
  });

  test('the redelivered task completes without a second domain', async () => {
    const { ws, token } = await setup(p, lab);
    const first = await startComputeProcess();
    const name = uniqueName('vm');
    const r = await p.call('POST', '/vms/', token, {
      name,
      owner: ws,
      area: 'lab',
      template: 'kloudak-test',
      password: 'pw',
    });
    assert.equal(r.status, 202);
    const domain = `kloudak-${r.body.task_id}`;
    await until(
      'the domain to be defined',
      async () => (await allDomains(lab)).includes(domain) || undefined,
      60_000,
      50,
    );
    first.kill('SIGKILL');
    await new Promise((res) => first.once('exit', res));
    await startComputeProcess();
    const t = await p.call('GET', `/task/${r.body.task_id}/?wait=90`, token);
    assert.equal(t.body.status, 'successful', JSON.stringify(t.body));
    const line = `kloudak-guest up ${name} ${r.body.ip}`;
    await until(line, () => readConsole(lab, r.body.task_id).includes(line) || undefined, BOOT_TIMEOUT, 500);
    const everywhere = await allDomains(lab);
    assert.equal(everywhere.filter((d) => d === domain).length, 1, 'one domain, on one host');
    const d = await p.call('DELETE', '/vms/', token, { owner: ws, name });
    assert.equal((await p.call('GET', `/task/${d.body.task_id}/?wait=60`, token)).body.status, 'successful');
    assert.ok(!(await allDomains(lab)).includes(domain));
  });
});
