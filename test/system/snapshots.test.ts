// Issue 15 item 5 "Must show", on the lab of two hosts, through the API: a guest whose disk counts its boots
// boots (boots=1); a snapshot is taken through POST /snapshots/ while it runs (disk and memory, in the VM's
// qcow2 overlay on the shared pool, its XML saved beside it); two reboots (2, 3); the VM is moved live to the
// other host (POST /vms/migrate/: libvirt's snapshot metadata is per host, so it is redefined there from the
// saved XML); the snapshot is reverted to there (POST /snapshots/revert/: the guest runs again as it was) and
// the guest rebooted: boots=2, the count after the snapshot. Deleting the snapshot (DELETE /snapshots/) and
// then the VM leaves nothing: no snapshot on either host, no VM directory on the pool. Reboots are the
// platform's (an ACPI shutdown and a start).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createCompute, type Compute } from '../../src/compute/service.ts';
import { createVirshHypervisor } from '../../src/compute/hypervisor.ts';
import { createNetworkService, type NetworkService } from '../../src/network/service.ts';
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
  vmDirExists,
} from '../support/lab.ts';
import { startPlatform, until, type TestPlatform, succeeds } from '../support/platform.ts';

const log = (name: string) => createLogger(name, process.env.KLOUDAK_TEST_LOG ?? 'silent');

describe('VM snapshots on the lab (through the API)', { timeout: 900_000 }, () => {
  let lab: LabStatus;
  let p: TestPlatform;
  let compute: Compute;
  let network: NetworkService;
  const hv = createVirshHypervisor();

  before(async () => {
    lab = await ensureLab(2);
    p = await startPlatform('pglite', 'memory', { ...labConfig(lab), RETRIES: '0' });
    const config = p.serviceConfig({ RECONCILE_INTERVAL: '3600' });
    compute = await createCompute({ config, log: log('compute'), bus: p.bus });
    network = await createNetworkService({ config, log: log('network'), bus: p.bus });
  });
  after(async () => {
    if (compute) await destroyComputeVms(compute);
    await compute?.close();
    await network?.close();
    if (lab) await clearPortSecurity(lab).catch(() => undefined);
    await p?.close();
  });

  test('snapshot running, reboot twice, move to the other host, revert, reboot: the count after the snapshot', async () => {
    const admin = await p.inv.adminToken();
    await registerTestLab(lab, p.inv.url, admin);
    const user = uniqueName('u');
    await p.inv.user(user);
    const ws = uniqueName('ws');
    await p.inv.call('POST', '/workspaces/', await p.inv.login(user), { name: ws });
    const token = await p.inv.login(user);
    const finish = (r: { status: number; body: any }, as = token, wait = 120) => succeeds(p, r, as, wait);
    const name = uniqueName('vm');
    const made = await p.call('POST', '/vms/', token, {
      name,
      owner: ws,
      area: 'lab',
      template: 'kloudak-test',
      password: 'pw-secret',
    });
    await finish(made);
    const task = made.body.task_id as string;
    const domain = `kloudak-${task}`;
    const up = `kloudak-guest up ${name} `;
    const record = async () => (await p.inv.call('GET', `/${ws}/vms/${name}/`, token)).body;
    const uriOf = (host: string) => lab.hosts.find((h) => h.name === host)!.uri;

    /** Waits for the guest's up line on its console log; answers the boot count it printed. */
    const booted = async () => {
      const out = await until(
        `${domain} up`,
        () => (readConsole(lab, task).includes(up) ? readConsole(lab, task) : undefined),
        120_000,
        500,
      );
      return bootCount(out);
    };
    /** A reboot through the API; the console log is made anew by the start, so the boot's lines are alone. */
    const reboot = async () => {
      await rm(consolePath(lab, task), { force: true });
      await finish(
        await p.call('POST', '/vms/power/', token, { owner: ws, name, action: 'reboot', timeout: 60 }),
      );
      return booted();
    };
    const snap = (path: string, method = 'POST') =>
      p.call(method, path, token, { owner: ws, vm: name, name: 'before-boots' });

    assert.equal(await booted(), 1);
    const from = (await record()).host as string;
    await finish(await snap('/snapshots/'));
    const listed = (await p.inv.call('GET', `/${ws}/vms/${name}/snapshots/`, token)).body.snapshots;
    assert.deepEqual(
      listed.map((s: { name: string; state: string; running: boolean }) => [s.name, s.state, s.running]),
      [['before-boots', 'U', true]],
      'taken running: it holds the guest memory',
    );
    const saved = join(lab.pool.localPath, 'vms', domain, 'snapshots', 'before-boots.xml');
    assert.ok(existsSync(saved), 'its XML is kept beside the disk on the shared pool');
    assert.deepEqual(await hv.snapshots(uriOf(from), domain), ['before-boots']);

    assert.equal(await reboot(), 2);
    assert.equal(await reboot(), 3);

    // Moved live to the other host: libvirt there learns the snapshot from the saved XML.
    const to = lab.hosts.find((h) => h.name !== from)!.name;
    await finish(await p.call('POST', '/vms/migrate/', admin, { owner: ws, name, host: to }), admin, 300);
    assert.equal((await record()).host, to);
    assert.deepEqual(await hv.snapshots(uriOf(to), domain), ['before-boots'], 'known on the new host');
    assert.equal(await hv.state(uriOf(from), domain), undefined, 'gone from the old host');

    const reverted = await finish(await snap('/snapshots/revert/'));
    assert.equal(reverted.method, 'SNAPSHOT');
    assert.equal(await hv.state(uriOf(to), domain), 'running', 'taken running, reverted running');
    assert.equal((await record()).state, 'U');
    assert.equal(await reboot(), 2, 'the count after the snapshot');

    await finish(await snap('/snapshots/', 'DELETE'));
    assert.deepEqual((await p.inv.call('GET', `/${ws}/vms/${name}/snapshots/`, token)).body.snapshots, []);
    assert.deepEqual(await hv.snapshots(uriOf(to), domain), []);
    assert.ok(!existsSync(saved), 'its saved XML is gone');

    // A VM deleted with a snapshot: the snapshot goes with it (data in the disk, metadata, XML, record).
    await finish(await snap('/snapshots/'));
    assert.deepEqual(await hv.snapshots(uriOf(to), domain), ['before-boots']);
    await finish(await p.call('DELETE', '/vms/', token, { owner: ws, name }));
    for (const h of lab.hosts)
      assert.equal(await hv.state(h.uri, domain), undefined, `no domain on ${h.name}`);
    assert.ok(!vmDirExists(lab, task), 'nothing of the VM is left on the pool');
    assert.equal((await p.inv.call('GET', `/${ws}/vms/${name}/snapshots/`, token)).status, 404);
  });
});
