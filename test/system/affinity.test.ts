// Issue 18 item 3 "Must show", on the lab of two real hosts: two VMs of one anti-affinity group, created at the
// same time, land on different hosts (their domains run there; compute, inventory and the group listing agree).
// A drain that cannot honour the group says so: draining one host, whose only other host runs the group's other
// VM, leaves that VM running where it was and fails naming the VM and its group, the host staying in
// maintenance. A create that cannot keep the group apart places anyway and its task warns. The operator's other
// choice, a drain with break_affinity, moves the VM live and the task warns which group it broke.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createCompute, type Compute } from '../../src/compute/service.ts';
import { createNetworkService, type NetworkService } from '../../src/network/service.ts';
import { createVirshHypervisor } from '../../src/compute/hypervisor.ts';
import { createLogger } from '../../src/lib/log.ts';
import type { LabStatus } from '../../src/lab/index.ts';
import { uniqueName } from '../support/env.ts';
import {
  clearPortSecurity,
  destroyComputeVms,
  ensureLab,
  labConfig,
  registerTestLab,
} from '../support/lab.ts';
import { startPlatform, type TestPlatform, waitTask, succeeds } from '../support/platform.ts';

const log = (name: string) => createLogger(name, process.env.KLOUDAK_TEST_LOG ?? 'silent');
const hv = createVirshHypervisor(30_000);

describe('anti-affinity groups on the lab', { timeout: 600_000 }, () => {
  let lab: LabStatus;
  let p: TestPlatform;
  let compute: Compute;
  let network: NetworkService;
  let ws = '';
  let token = '';
  let admin = '';
  const group = 'web';
  /** name -> its domain */
  const domains = new Map<string, string>();

  before(async () => {
    lab = await ensureLab(2);
    p = await startPlatform('pglite', 'memory', { ...labConfig(lab), RETRIES: '0' });
    const config = p.serviceConfig({ RECONCILE_INTERVAL: '3600' });
    compute = await createCompute({ config, log: log('compute'), bus: p.bus });
    network = await createNetworkService({ config, log: log('network'), bus: p.bus });
    admin = await p.inv.adminToken();
    await registerTestLab(lab, p.inv.url, admin);
    ws = uniqueName('ws');
    const user = uniqueName('u');
    await p.inv.user(user);
    await p.inv.call('POST', '/workspaces/', await p.inv.login(user), { name: ws });
    token = await p.inv.login(user);
  });
  after(async () => {
    // Both hosts back in placement for the next test file on the shared lab state.
    for (const h of lab?.hosts ?? [])
      await p?.call('POST', '/hosts/restore/', admin, { host: h.name }).catch(() => undefined);
    if (compute) await destroyComputeVms(compute);
    await network?.close();
    await compute?.close();
    if (lab) await clearPortSecurity(lab).catch(() => undefined);
    await p?.close();
  });

  const task = async (r: { status: number; body: any }, as: string, wait = 180) => {
    assert.equal(r.status, 202, JSON.stringify(r.body));
    return (await waitTask(p, r.body.task_id, as, wait)).body;
  };
  const finish = (r: { status: number; body: any }, as: string, wait = 180) => succeeds(p, r, as, wait);
  const create = async (name: string) => {
    const r = await p.call('POST', '/vms/', token, {
      name,
      owner: ws,
      area: 'lab',
      template: 'kloudak-test',
      password: 'pw',
      affinity_group: group,
    });
    domains.set(name, `kloudak-${r.body.task_id}`);
    return finish(r, token);
  };
  /** The hosts whose libvirt runs the VM's domain. */
  const runningOn = async (name: string) => {
    const out: string[] = [];
    for (const h of lab.hosts)
      if ((await hv.state(h.uri, domains.get(name)!)) === 'running') out.push(h.name);
    return out;
  };
  const recordHost = async (name: string) =>
    (await p.inv.call('GET', `/${ws}/vms/${name}/`, token)).body.host as string;

  test('two VMs of one group land on different hosts; a drain that cannot keep them apart says so', async (t) => {
    const [h1, h2] = lab.hosts as [LabStatus['hosts'][0], LabStatus['hosts'][0]];
    // Created at the same time: each placement sees the other's.
    const [a, b] = ['a', 'b'].map((x) => `${x}-${uniqueName('aff')}`);
    const made = await Promise.all([create(a), create(b)]);
    for (const m of made) assert.equal(m.warning, undefined, 'the group was kept apart: no warning');
    const [onA, onB] = [await runningOn(a), await runningOn(b)];
    t.diagnostic(`${a} on ${onA.join(',')}, ${b} on ${onB.join(',')}`);
    assert.equal(onA.length, 1, `${a} runs on exactly one host`);
    assert.equal(onB.length, 1, `${b} runs on exactly one host`);
    assert.notEqual(onA[0], onB[0], 'the two VMs of the group run on different hosts');
    assert.deepEqual([await recordHost(a), await recordHost(b)], [onA[0], onB[0]]);
    const groups = (await p.inv.call('GET', `/${ws}/affinity_groups/`, token)).body.affinity_groups;
    assert.deepEqual(groups, [
      {
        name: group,
        policy: 'anti_affinity',
        spread: true,
        vms: [
          { name: a, host: onA[0] },
          { name: b, host: onB[0] },
        ],
      },
    ]);

    // Draining a's host: the only other host runs b. a stays where it runs, and the task says why.
    const from = onA[0] === h1.name ? h1 : h2;
    const other = from === h1 ? h2 : h1;
    const drained = await task(await p.call('POST', '/hosts/drain/', admin, { host: from.name }), admin);
    t.diagnostic(`drain of ${from.name}: ${drained.status}: ${drained.error}`);
    assert.notEqual(drained.status, 'successful');
    assert.match(drained.error, new RegExp(`${ws}/${a}: .*anti-affinity group ${group}`));
    assert.match(drained.error, new RegExp(`${other.name}: ${b}`), 'it names where the group runs');
    assert.match(drained.error, /break_affinity/, 'it says how to move it anyway');
    assert.deepEqual(await runningOn(a), [from.name], `${a} still runs on ${from.name}`);
    assert.equal(await recordHost(a), from.name);
    assert.equal((await p.inv.call('GET', `/hosts/${from.name}/`, admin)).body.maintenance, true);

    // A third VM of the group now has one host to go to, which runs b: placed anyway, and the task warns.
    const c = `c-${uniqueName('aff')}`;
    const third = await create(c);
    assert.deepEqual(await runningOn(c), [other.name]);
    assert.match(
      third.warning ?? '',
      new RegExp(`anti-affinity group ${group} not honoured: ${other.name} also runs ${b}`),
    );

    // The operator's other choice: move anyway. a moves live next to b and c; the task warns.
    const moved = await finish(
      await p.call('POST', '/hosts/drain/', admin, { host: from.name, break_affinity: true }),
      admin,
      300,
    );
    t.diagnostic(`drain with break_affinity: ${moved.stage}; warning: ${moved.warning}`);
    assert.equal(moved.stage, 'drained');
    assert.match(moved.warning ?? '', new RegExp(`${ws}/${a}: anti-affinity group ${group} not honoured`));
    assert.deepEqual(await runningOn(a), [other.name], `${a} runs on ${other.name} only`);
    assert.equal(await recordHost(a), other.name);
    const after = (await p.inv.call('GET', `/${ws}/affinity_groups/`, token)).body.affinity_groups;
    assert.equal(after[0].spread, false, 'the listing says the group shares a host');
  });
});
