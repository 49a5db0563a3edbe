// Issue 15 (power) at the controller, with a scripted compute: POST /vms/power/ checks the permission and the
// VM's state (409 naming it), the record follows the task (D after stop, U after start), and a power task
// rolled back takes the state the host reports. On PGlite with the in-process bus (the controller's logic;
// test/controller/tasks.test.ts runs the task machinery on both backends).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { uniqueName } from '../support/env.ts';
import { startPlatform, type TestPlatform } from '../support/platform.ts';
import { newTenant, scriptedVm } from '../support/tenants.ts';
import { scriptedWorker } from '../support/workers.ts';

describe('power through the controller (scripted compute)', () => {
  let p: TestPlatform;
  let admin: string;

  before(async () => {
    p = await startPlatform('pglite', 'memory');
    admin = await p.inv.adminToken();
    await p.inv.call('POST', '/templates/', admin, { name: 'tiny', cpu: 1, ram: 0.125, disk: 1 });
  });
  after(async () => p?.close());

  async function upVm() {
    const t = await newTenant(p, admin);
    return { ...t, name: await scriptedVm(p, t, { password: 'pw-123456' }) };
  }

  const state = async (ws: string, name: string, token: string) =>
    (await p.inv.call('GET', `/${ws}/vms/${name}/`, token)).body.state as string;

  test('stop then start: the task carries the action and timeout, the record goes D then U', async () => {
    const { ws, token, name } = await upVm();
    const worker = await scriptedWorker(p.bus, 'vm', ws, (t) => ({
      status: 'successful',
      host: 'h1',
      state: t.action === 'stop' ? 'D' : 'U',
    }));
    try {
      const stop = await p.call('POST', '/vms/power/', token, {
        owner: ws,
        name,
        action: 'stop',
        timeout: 5,
      });
      assert.equal(stop.status, 202, JSON.stringify(stop.body));
      assert.equal(stop.body.method, 'POWER');
      const t = await p.call('GET', `/task/${stop.body.task_id}/?wait=30`, token);
      assert.equal(t.body.status, 'successful', JSON.stringify(t.body));
      assert.equal(t.body.stage, 'D');
      assert.equal(await state(ws, name, token), 'D');
      const sent = worker.received.at(-1)!;
      assert.equal(sent.action, 'stop');
      assert.equal(sent.timeout, 5);
      assert.equal(sent.host, 'h1');

      // A stopped VM: stop again, reboot and off are 409 naming the state; start is taken.
      for (const action of ['stop', 'reboot', 'off']) {
        const r = await p.call('POST', '/vms/power/', token, { owner: ws, name, action });
        assert.equal(r.status, 409, action);
        assert.equal(r.body.field, 'action');
        assert.match(r.body.error, /is D \(down\)/);
      }
      const start = await p.call('POST', '/vms/power/', token, { owner: ws, name, action: 'start' });
      assert.equal(start.status, 202);
      assert.equal(
        (await p.call('GET', `/task/${start.body.task_id}/?wait=30`, token)).body.status,
        'successful',
      );
      assert.equal(await state(ws, name, token), 'U');
      assert.equal(worker.received.at(-1)!.timeout, 60, 'the default stop timeout travels too');
      const again = await p.call('POST', '/vms/power/', token, { owner: ws, name, action: 'start' });
      assert.equal(again.status, 409);
      assert.match(again.body.error, /is U \(up\): start needs it D/);
    } finally {
      await worker.stop();
    }
  });

  test('bad input and permissions: 4xx naming the field, no task', async () => {
    const { ws, token, name } = await upVm();
    const cases: [unknown, number, string | undefined][] = [
      [{ owner: ws, name, action: 'explode' }, 400, 'action'],
      [{ owner: ws, name, action: 'stop', timeout: 0 }, 400, 'timeout'],
      [{ owner: ws, name, action: 'stop', timeout: 3601 }, 400, 'timeout'],
      [{ owner: ws, name, action: 'stop', timeout: '5' }, 400, 'timeout'],
      [{ owner: ws, name, action: 'start', timeout: 5 }, 400, 'timeout'],
      [{ owner: ws, name }, 400, 'action'],
      [{ owner: ws, name: 'ghost', action: 'stop' }, 404, 'name'],
    ];
    for (const [body, status, field] of cases) {
      const r = await p.call('POST', '/vms/power/', token, body);
      assert.equal(r.status, status, JSON.stringify(body));
      assert.equal(r.body.field, field, JSON.stringify(r.body));
    }
    const weak = uniqueName('w');
    await p.inv.user(weak);
    await p.inv.addMember(ws, token, weak, { vm_can_edit: false }); // invited and accepted (issue 14.6)
    const r = await p.call('POST', '/vms/power/', await p.inv.login(weak), {
      owner: ws,
      name,
      action: 'stop',
    });
    assert.equal(r.status, 403);
    assert.match(r.body.error, /vm_can_edit/);
    const tasks = await p.call('GET', `/tasks/${ws}/`, token);
    assert.equal(tasks.body.tasks.filter((t: { method: string }) => t.method === 'POWER').length, 0);
    assert.equal(await state(ws, name, token), 'U');
  });

  test('a power task that fails for good: the rollback reports what the host says, the record takes it', async () => {
    const { ws, token, name } = await upVm();
    // A compute that fails the task, then rolls back reporting the state its host shows.
    const compute = await scriptedWorker(
      p.bus,
      'vm',
      ws,
      () => ({ status: 'failed', error: 'the guest ignored the button and destroy failed' }),
      { state: 'D' },
    );
    try {
      const r = await p.call('POST', '/vms/power/', token, { owner: ws, name, action: 'reboot' });
      assert.equal(r.status, 202);
      const t = await p.call('GET', `/task/${r.body.task_id}/?wait=30`, token);
      assert.equal(t.body.status, 'rolled_back', JSON.stringify(t.body));
      assert.match(t.body.error, /destroy failed/);
      assert.equal(await state(ws, name, token), 'D', 'the record says what the host reported');
    } finally {
      await compute.stop();
    }
  });
});
