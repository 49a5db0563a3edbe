// Issue 15 item 5, the hypervisor's part, on the lab: internal snapshots of a VM's qcow2 overlay on the shared
// pool (src/compute/hypervisor.ts). Proof with the guest's boot counter on its disk: a VM made by compute
// boots (boots=1); stopped, snapshotted, then booted twice (2, 3); reverted and booted: boots=2 again, the
// count after the snapshot. Stops are ACPI shutdowns and starts (virsh reboot kills a lab domain that has a
// disk: virtlockd, scripts/guest/README.md).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { createCompute, type Compute } from '../../src/compute/service.ts';
import { createVirshHypervisor } from '../../src/compute/hypervisor.ts';
import { createNetworkService, type NetworkService } from '../../src/network/service.ts';
import { run } from '../../src/lib/exec.ts';
import { createLogger } from '../../src/lib/log.ts';
import type { LabStatus } from '../../src/lab/index.ts';
import { uniqueName } from '../support/env.ts';
import { bootCount } from '../support/guest.ts';
import {
  clearPortSecurity,
  consolePath,
  destroyComputeVms,
  ensureLab,
  labConfig,
  readConsole,
  registerTestLab,
} from '../support/lab.ts';
import { startPlatform, until, type TestPlatform } from '../support/platform.ts';

const log = (name: string) => createLogger(name, process.env.KLOUDAK_TEST_LOG ?? 'silent');

describe('VM snapshots on the lab (hypervisor)', { timeout: 900_000 }, () => {
  let lab: LabStatus;
  let p: TestPlatform;
  let compute: Compute;
  let network: NetworkService;
  const hv = createVirshHypervisor();

  before(async () => {
    lab = await ensureLab(2);
    p = await startPlatform('pglite', 'memory', labConfig(lab));
    const config = p.serviceConfig({ RECONCILE_INTERVAL: '3600' });
    compute = await createCompute({ config, log: log('compute'), bus: p.bus });
    network = await createNetworkService({ config, log: log('network'), bus: p.bus });
  });
  after(async () => {
    if (compute) await destroyComputeVms(compute);
    await compute?.close();
    await network?.close();
    if (lab) await clearPortSecurity(lab);
    await p?.close();
  });

  test('snapshot, boot twice, revert, boot: the disk counts as it did after the snapshot', async () => {
    const admin = await p.inv.adminToken();
    await registerTestLab(lab, p.inv.url, admin);
    const user = uniqueName('u');
    await p.inv.user(user);
    const ws = uniqueName('ws');
    await p.inv.call('POST', '/workspaces/', await p.inv.login(user), { name: ws });
    const token = await p.inv.login(user);
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
    const t = await p.call('GET', `/task/${task}/?wait=120`, token);
    assert.equal(t.body.status, 'successful', JSON.stringify(t.body));
    const vm = await p.inv.call('GET', `/${ws}/vms/${name}/`, token);
    const uri = lab.hosts.find((h) => h.name === vm.body.host)!.uri;
    const domain = `kloudak-${task}`;
    const up = `kloudak-guest up ${name} `;

    /** Waits for the guest's up line on a console log started afresh; answers the boot count it printed. */
    const booted = async () => {
      const out = await until(
        `${domain} up`,
        () => (readConsole(lab, task).includes(up) ? readConsole(lab, task) : undefined),
        120_000,
        500,
      );
      return bootCount(out);
    };
    const stop = async () => {
      await run('virsh', ['-q', '-c', uri, 'shutdown', '--mode', 'acpi', domain], { timeoutMs: 60_000 });
      await until(
        `${domain} shut off`,
        async () => (await hv.state(uri, domain)) === 'shut off',
        120_000,
        500,
      );
    };
    const start = async () => {
      // The console log is made anew at each start, so each boot's lines are read alone.
      await rm(consolePath(lab, task), { force: true });
      await hv.start(uri, domain);
      return booted();
    };

    assert.equal(await booted(), 1);
    await stop();
    await hv.snapshotCreate(uri, domain, 'first');
    await hv.snapshotCreate(uri, domain, 'first'); // again: done, not an error
    assert.deepEqual(await hv.snapshots(uri, domain), ['first']);
    assert.equal(await start(), 2);
    await stop();
    assert.equal(await start(), 3);
    await stop();
    await hv.snapshotRevert(uri, domain, 'first');
    assert.equal(await hv.state(uri, domain), 'shut off', 'taken stopped, reverted stopped');
    assert.equal(await start(), 2, 'the count after the snapshot');
    // The snapshot lives inside the overlay on the shared pool (any host of the area reads it there).
    const info = await run('virsh', ['-q', '-c', uri, 'domblklist', domain], { timeoutMs: 30_000 });
    const disk = /vda\s+(\S+)/.exec(info)![1];
    assert.ok(disk.startsWith(`${lab.pool.path}/`), `${disk} is on the pool`);
    await hv.snapshotDelete(uri, domain, 'first');
    await hv.snapshotDelete(uri, domain, 'first'); // again: done
    assert.deepEqual(await hv.snapshots(uri, domain), []);

    const d = await p.call('DELETE', '/vms/', token, { owner: ws, name });
    assert.equal(d.status, 202);
    const dt = await p.call('GET', `/task/${d.body.task_id}/?wait=60`, token);
    assert.equal(dt.body.status, 'successful', JSON.stringify(dt.body));
  });
});
