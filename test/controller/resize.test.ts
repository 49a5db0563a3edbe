// Issue 15 (resize) at the controller, with a scripted compute (its vm queue and its vm_room answers): PUT /vms/
// with update_dict {cpu, ram} is refused 400 naming the field when no host of the area could hold the size,
// 409 when compute says the VM's host lacks room, and otherwise becomes a task whose success records the new
// size on the VM (no longer the template's).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Consumer } from '../../src/lib/bus/bus.ts';
import { conflict } from '../../src/lib/errors.ts';
import { uniqueName } from '../support/env.ts';
import { startPlatform, type TestPlatform } from '../support/platform.ts';
import { newTenant, scriptedVm } from '../support/tenants.ts';
import { scriptedWorker } from '../support/workers.ts';

describe('resize through the controller (scripted compute)', () => {
  let p: TestPlatform;
  let admin: string;
  let room: Consumer;
  /** What the scripted compute was asked, and whether it says there is room. */
  const asked: Record<string, unknown>[] = [];
  let hasRoom = true;

  before(async () => {
    p = await startPlatform('pglite', 'memory');
    admin = await p.inv.adminToken();
    await p.inv.call('POST', '/templates/', admin, { name: 'tiny', cpu: 1, ram: 0.125, disk: 1 });
    room = await p.bus.serveRpc('vm_room', async (r) => {
      asked.push(r);
      if (!hasRoom) throw conflict('update_dict.ram', 'host h1 has 100 MiB for it, not 512');
      return { host: 'h1' };
    });
  });
  after(async () => {
    await room?.cancel();
    await p?.close();
  });

  async function upVm() {
    const t = await newTenant(p, admin);
    const { ws, token, area } = t;
    for (const [name, cpus, memory] of [
      [uniqueName('h'), 2, 1],
      [uniqueName('h'), 4, 0.5],
    ] as const) {
      const h = await p.inv.call('POST', '/hosts/', admin, {
        name,
        address: '127.0.0.1',
        libvirt_uri: 'qemu+ssh://root@10.0.0.11/system',
        area,
        cpus,
        memory,
      });
      assert.equal(h.status, 201, JSON.stringify(h.body));
    }
    return { ws, token, name: await scriptedVm(p, t, { password: 'pw-123456' }) };
  }

  const record = async (ws: string, name: string, token: string) =>
    (await p.inv.call('GET', `/${ws}/vms/${name}/`, token)).body as {
      cpu: number;
      ram: number;
      state: string;
    };

  test("a new VM has its template's size; a resize becomes a task and the record keeps the new size", async () => {
    const { ws, token, name } = await upVm();
    assert.deepEqual(
      { cpu: (await record(ws, name, token)).cpu, ram: (await record(ws, name, token)).ram },
      { cpu: 1, ram: 0.125 },
    );
    const worker = await scriptedWorker(p.bus, 'vm', ws, () => ({ status: 'successful', host: 'h1' }));
    try {
      asked.length = 0;
      const r = await p.call('PUT', '/vms/', token, {
        owner: ws,
        name,
        update_dict: { cpu: 2, ram: 0.25 },
      });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      assert.deepEqual(asked, [{ owner: ws, name, vcpus: 2, memoryMib: 256 }], 'compute was asked for room');
      const t = await p.call('GET', `/task/${r.body.task_id}/?wait=30`, token);
      assert.equal(t.body.status, 'successful', JSON.stringify(t.body));
      const sent = worker.received.at(-1)! as { update_dict: unknown; vm: { cpu: number; ram: number } };
      assert.deepEqual(sent.update_dict, { cpu: 2, ram: 0.25 });
      assert.deepEqual({ cpu: sent.vm.cpu, ram: sent.vm.ram }, { cpu: 1, ram: 0.125 }, 'the size before');
      const after = await record(ws, name, token);
      assert.deepEqual(
        { cpu: after.cpu, ram: after.ram, state: after.state },
        { cpu: 2, ram: 0.25, state: 'U' },
      );
    } finally {
      await worker.stop();
    }
  });

  test("a resize past the workspace's quota is 403 naming it; a failed resize puts the old size back", async () => {
    const { ws, token, name } = await upVm();
    assert.equal((await p.inv.call('PUT', `/workspaces/${ws}/quotas/`, admin, { vcpus: 2 })).status, 200);
    const over = await p.call('PUT', '/vms/', token, { owner: ws, name, update_dict: { cpu: 3 } });
    assert.deepEqual(
      [over.status, over.body.field, over.body.quota, over.body.limit, over.body.used],
      [403, 'quota', 'vcpus', 2, 1],
      JSON.stringify(over.body),
    );
    // Within the quota, but compute fails: the rollback gives the VM (and the quota) its old size back.
    const worker = await scriptedWorker(p.bus, 'vm', ws, () => ({ status: 'failed', error: 'resize broke' }));
    try {
      const r = await p.call('PUT', '/vms/', token, { owner: ws, name, update_dict: { cpu: 2 } });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      const t = await p.call('GET', `/task/${r.body.task_id}/?wait=30`, token);
      assert.notEqual(t.body.status, 'successful', JSON.stringify(t.body));
      const vm = await record(ws, name, token);
      assert.deepEqual({ cpu: vm.cpu, ram: vm.ram }, { cpu: 1, ram: 0.125 });
      const q = await p.inv.call('GET', `/workspaces/${ws}/quotas/`, token);
      assert.equal(q.body.used.vcpus, 1);
    } finally {
      await worker.stop();
    }
  });

  test('sizes no host of the area holds are 400 naming the field; no room on the host is 409; no task', async () => {
    const { ws, token, name } = await upVm();
    const cases: [unknown, number, string][] = [
      [{ cpu: 5 }, 400, 'update_dict.cpu'],
      [{ ram: 2 }, 400, 'update_dict.ram'],
      [{ cpu: 0 }, 400, 'update_dict.cpu'],
      [{ cpu: 1.5 }, 400, 'update_dict.cpu'],
      [{ ram: -1 }, 400, 'update_dict.ram'],
      [{ ram: '1G' }, 400, 'update_dict.ram'],
      [{ disk: 3 }, 400, 'update_dict.disk'],
      [{}, 400, 'update_dict'],
    ];
    for (const [update_dict, status, field] of cases) {
      const r = await p.call('PUT', '/vms/', token, { owner: ws, name, update_dict });
      assert.equal(r.status, status, JSON.stringify(update_dict));
      assert.equal(r.body.field, field, JSON.stringify(r.body));
    }
    assert.match(
      (await p.call('PUT', '/vms/', token, { owner: ws, name, update_dict: { cpu: 5 } })).body.error,
      /largest has 4/,
    );
    hasRoom = false;
    try {
      const r = await p.call('PUT', '/vms/', token, { owner: ws, name, update_dict: { ram: 0.5 } });
      assert.equal(r.status, 409, JSON.stringify(r.body));
      assert.equal(r.body.field, 'update_dict.ram');
      assert.match(r.body.error, /no room for the new size: host h1 has 100 MiB/);
    } finally {
      hasRoom = true;
    }
    const tasks = await p.call('GET', `/tasks/${ws}/`, token);
    assert.equal(tasks.body.tasks.filter((t: { method: string }) => t.method === 'PUT').length, 0);
    const vm = await record(ws, name, token);
    assert.deepEqual({ cpu: vm.cpu, ram: vm.ram }, { cpu: 1, ram: 0.125 });
  });
});
