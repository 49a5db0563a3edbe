// Issue 3 "Must show": tasks that are never lost, retries, rollbacks, rooms notified; on PostgreSQL with
// RabbitMQ and on PGlite with the in-process bus.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { uniqueName } from '../support/env.ts';
import { joinRoom, startPlatform, until, type BusKind, type TestPlatform } from '../support/platform.ts';
import type { Backend } from '../support/inventory.ts';
import { newTenant } from '../support/tenants.ts';
import { scriptedWorker } from '../support/workers.ts';
import type { Controller } from '../../src/controller/service.ts';

const COMBOS: [Backend, BusKind][] = [
  ['postgres', 'amqp'],
  ['pglite', 'memory'],
];

for (const [backend, busKind] of COMBOS) {
  describe(`controller on ${backend} with the ${busKind} bus`, () => {
    let p: TestPlatform;
    let admin: string;

    before(async () => {
      p = await startPlatform(backend, busKind);
      admin = await p.inv.adminToken();
      await p.inv.call('POST', '/templates/', admin, { name: 'tiny', cpu: 1, ram: 0.125, disk: 1 });
    });
    after(async () => p?.close());

    const workspace = () => newTenant(p, admin);

    const vmBody = (ws: string, area: string, name = uniqueName('vm')) => ({
      name,
      owner: ws,
      area,
      template: 'tiny',
      password: 'pw-123456',
    });

    const waitTask = async (id: string, token: string) => {
      const r = await p.call('GET', `/task/${id}/?wait=30`, token);
      assert.equal(r.status, 200);
      return r.body;
    };

    test('a VM POST becomes one task; failed twice then successful: three deliveries, room told each step', async () => {
      const { ws, token, area } = await workspace();
      const room = await joinRoom(p.notificationUrl, ws, token);
      const worker = await scriptedWorker(p.bus, 'vm', ws, (_t, n) =>
        n < 3 ? { status: 'failed', error: `boom ${n}` } : { status: 'successful', host: 'h1' },
      );
      try {
        const body = vmBody(ws, area);
        const r = await p.call('POST', '/vms/', token, body);
        assert.equal(r.status, 202, JSON.stringify(r.body));
        assert.equal(r.headers.get('location'), `/task/${r.body.task_id}/`);
        assert.match(r.body.ip, /^10\./);
        const vm0 = await p.inv.call('GET', `/${ws}/vms/${body.name}/`, token);
        assert.equal(vm0.body.state, 'C_D');

        const t = await waitTask(r.body.task_id, token);
        assert.equal(t.status, 'successful');
        assert.equal(t.deliveries, 3);
        assert.equal(t.retries_left, 0);
        assert.equal(worker.received.length, 3);
        assert.deepEqual(
          worker.received.map((m) => m.attempt),
          [1, 2, 3],
        );
        assert.ok(worker.received.every((m) => m.task_id === r.body.task_id));
        const vm = await p.inv.call('GET', `/${ws}/vms/${body.name}/`, token);
        assert.equal(vm.body.state, 'U');
        assert.equal(vm.body.host, 'h1');
        const mine = await until('room messages', () => {
          const m = room.messages.filter((x) => x.task_id === r.body.task_id);
          return m.some((x) => x.status === 'successful') ? m : undefined;
        });
        assert.deepEqual(
          mine.map((m) => m.status),
          ['pending', 'running', 'running', 'successful'],
        );
        assert.equal(mine.filter((m) => m.stage === 'retrying').length, 2);
        const tasks = await p.call('GET', `/tasks/${ws}/`, token);
        assert.equal(tasks.body.tasks.filter((x: any) => x.object === body.name).length, 1);
        assert.equal(JSON.stringify(tasks.body).includes('pw-123456'), false, 'the password never shows');
      } finally {
        room.close();
        await worker.stop();
      }
    });

    test('a worker that always fails: retries, then rollback; record gone, address free, room told', async () => {
      const { ws, token, area } = await workspace();
      const room = await joinRoom(p.notificationUrl, ws, token);
      const worker = await scriptedWorker(p.bus, 'vm', ws, () => ({
        status: 'failed',
        error: 'disk exploded',
      }));
      try {
        const body = vmBody(ws, area);
        const r = await p.call('POST', '/vms/', token, body);
        assert.equal(r.status, 202);
        const t = await waitTask(r.body.task_id, token);
        assert.equal(t.status, 'rolled_back');
        assert.match(t.error, /disk exploded/);
        assert.equal(worker.received.length, 3, 'first try plus two retries');
        assert.equal(worker.rollbacks.length, 1);
        assert.equal((await p.inv.call('GET', `/${ws}/vms/${body.name}/`, token)).status, 404);
        // The /29 has five addresses: all five can be handed out again, so the VM's came back.
        const svc = await p.inv.serviceToken();
        const ips = [];
        for (let i = 0; i < 5; i++)
          ips.push((await p.inv.call('GET', `/address/${area}/get_ip/`, svc)).body.ip);
        assert.ok(ips.includes(r.body.ip), `${r.body.ip} handed out again`);
        const fail = await until('failure in the room', () =>
          room.messages.find((m) => m.task_id === r.body.task_id && m.status === 'rolling_back'),
        );
        assert.match(fail.error, /disk exploded/);
        await until('rolled back in the room', () =>
          room.messages.find((m) => m.task_id === r.body.task_id && m.status === 'rolled_back'),
        );
      } finally {
        room.close();
        await worker.stop();
      }
    });

    test('accepted but not published before a crash: published once after restart', async () => {
      const { ws, token, area } = await workspace();
      // PGlite is one process's database: stop the running controller so the crashing one owns the files.
      await p.controller.close();
      const crashed = await p.startController({ relay: false });
      const body = vmBody(ws, area);
      const post = await fetch(`${crashed.url}/vms/`, {
        method: 'POST',
        headers: { token, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      assert.equal(post.status, 202);
      const { task_id } = (await post.json()) as { task_id: string };
      await crashed.controller.close(); // gone before its relay ever ran
      const worker = await scriptedWorker(p.bus, 'vm', ws, () => ({ status: 'successful', host: 'h2' }));
      try {
        const restarted = await p.startController();
        p.useController(restarted);
        const t = await waitTask(task_id, token);
        assert.equal(t.status, 'successful');
        await new Promise((r) => setTimeout(r, 1500));
        assert.equal(
          worker.received.filter((m) => m.task_id === task_id).length,
          1,
          'published exactly once',
        );
      } finally {
        await worker.stop();
      }
    });

    test("a guest's root password and first-boot commands: only sealed in the rows while the task runs, gone when it ends", async () => {
      const { ws, token, area } = await workspace();
      const secret = `pw-${uniqueName('secret')}`;
      const cmd = `echo ${uniqueName('boot')}`;
      const rows = async (
        c: { controller: { database: { db: Controller['database']['db'] } } },
        id: string,
      ) => {
        const db = c.controller.database.db;
        return {
          task: await db.selectFrom('tasks').select('body').where('id', '=', id).executeTakeFirstOrThrow(),
          outbox: await db
            .selectFrom('outbox')
            .select(['body', 'published_at'])
            .where('task_id', '=', id)
            .execute(),
        };
      };
      // A controller that accepts but does not publish: the rows as they wait for the relay.
      await p.controller.close();
      const quiet = await p.startController({ relay: false });
      const post = await fetch(`${quiet.url}/vms/`, {
        method: 'POST',
        headers: { token, 'content-type': 'application/json' },
        body: JSON.stringify({ ...vmBody(ws, area), password: secret, runcmd: [cmd] }),
      });
      assert.equal(post.status, 202);
      const { task_id } = (await post.json()) as { task_id: string };
      const waiting = await rows(quiet, task_id);
      assert.equal(JSON.stringify(waiting).includes(secret), false, 'no password in the clear');
      assert.equal(JSON.stringify(waiting).includes(cmd), false, 'no first-boot command in the clear');
      assert.equal(typeof waiting.task.body.sealed, 'string');
      assert.equal(waiting.outbox.length, 1);
      assert.equal(typeof waiting.outbox[0].body.sealed, 'string');
      await quiet.controller.close();

      // Another controller (same data dir, same key) publishes it; the worker fails every try: two retries,
      // then a rollback, each message with the secrets.
      const worker = await scriptedWorker(p.bus, 'vm', ws, () => ({ status: 'failed', error: 'no disk' }));
      try {
        const next = await p.startController();
        p.useController(next);
        assert.equal((await waitTask(task_id, token)).status, 'rolled_back');
        assert.equal(worker.received.length, 3);
        for (const m of [...worker.received, ...worker.rollbacks]) {
          assert.equal(m.password, secret);
          assert.deepEqual(m.runcmd, [cmd]);
        }
        assert.equal(worker.rollbacks.length, 1);
        const ended = await rows(next, task_id);
        const text = JSON.stringify(ended);
        assert.equal(text.includes(secret), false, 'the password is gone');
        assert.equal(text.includes(cmd), false, 'the commands are gone');
        assert.equal(text.includes('sealed'), false, 'no sealed copy is kept');
        assert.equal(ended.outbox.length, 4, 'first try, two retries, the rollback');
        assert.ok(ended.outbox.every((o) => o.published_at !== null));
        assert.equal(ended.task.body.type, 'vm', 'the rest of the message stays');
      } finally {
        await worker.stop();
      }
    });

    if (busKind === 'amqp') {
      test('a worker that dies holding a task: the task goes to another worker', async () => {
        const { ws, token, area } = await workspace();
        const doomedBus = await p.connectBus();
        const doomed = await scriptedWorker(doomedBus, 'vm', ws, () => 'hold');
        const r = await p.call('POST', '/vms/', token, vmBody(ws, area));
        assert.equal(r.status, 202);
        await until('the doomed worker to take the task', () => doomed.received.length === 1 || undefined);
        const healthy = await scriptedWorker(p.bus, 'vm', ws, () => ({ status: 'successful', host: 'h3' }));
        try {
          await doomedBus.close(); // its connection drops with the task unacked, as with SIGKILL
          const t = await waitTask(r.body.task_id, token);
          assert.equal(t.status, 'successful');
          assert.equal(healthy.received.length, 1);
          assert.equal(healthy.received[0].task_id, r.body.task_id);
        } finally {
          await healthy.stop();
        }
      });
    }

    test('the network answer may come before the compute one: the task ends on the second, with the host', async () => {
      const { ws, token, area } = await workspace();
      const consumer = await p.bus.consume('vm', async (d) => {
        if (d.body.owner !== ws) return;
        const base = { task_id: d.body.task_id, attempt: d.body.attempt };
        await p.bus.publish('network_notification', {
          ...base,
          from: 'network',
          status: 'successful',
          interfaces: [],
        });
        await new Promise((r) => setTimeout(r, 300));
        await p.bus.publish('vm_notification', {
          ...base,
          from: 'compute',
          status: 'successful',
          network_pending: true,
          host: 'h9',
        });
      });
      try {
        const body = vmBody(ws, area);
        const r = await p.call('POST', '/vms/', token, body);
        const t = await waitTask(r.body.task_id, token);
        assert.equal(t.status, 'successful');
        assert.equal(t.deliveries, 2);
        const vm = await p.inv.call('GET', `/${ws}/vms/${body.name}/`, token);
        assert.equal(vm.body.state, 'U');
        assert.equal(vm.body.host, 'h9');
      } finally {
        await consumer.cancel();
      }
    });

    test('bad input and permissions: 4xx naming the field, nothing written', async () => {
      const { ws, token, area, user } = await workspace();
      const cases: [unknown, number, string][] = [
        [{ ...vmBody(ws, area), template: 'nope' }, 400, 'template'],
        [{ ...vmBody(ws, area), area: 'nope' }, 400, 'area'],
        [{ ...vmBody(ws, area), networks: ['nope'] }, 400, 'networks'],
        [{ ...vmBody(ws, area), name: 'bad name!' }, 400, 'name'],
        [{ ...vmBody(ws, area), name: 'x'.repeat(65) }, 400, 'name'],
        [{ ...vmBody(ws, area), password: 7 }, 400, 'password'],
        [{ owner: ws, area, template: 'tiny', password: 'x' }, 400, 'name'],
      ];
      for (const [body, status, field] of cases) {
        const r = await p.call('POST', '/vms/', token, body);
        assert.equal(r.status, status, JSON.stringify(body));
        assert.equal(r.body.field, field, JSON.stringify(r.body));
      }
      assert.equal((await p.call('POST', '/vms/', undefined, vmBody(ws, area))).status, 401);
      const other = await p.inv.user(uniqueName('o'));
      assert.equal((await p.call('POST', '/vms/', other, vmBody(ws, area))).status, 403);
      // A member without vm_can_add.
      const weak = uniqueName('w');
      await p.inv.user(weak);
      await p.inv.addMember(ws, token, weak, { vm_can_add: false });
      const weakToken = await p.inv.login(weak);
      assert.equal((await p.call('POST', '/vms/', weakToken, vmBody(ws, area))).status, 403);
      assert.equal((await p.call('DELETE', '/vms/', token, { owner: ws, name: 'ghost' })).status, 404);
      const vms = await p.inv.call('GET', `/${ws}/vms/`, token);
      assert.deepEqual(vms.body.vms, [], 'nothing written');
      const tasks = await p.call('GET', `/tasks/${ws}/`, token);
      assert.deepEqual(tasks.body.tasks, []);
      assert.equal((await p.call('GET', `/tasks/${ws}/`, other)).status, 403);
      assert.ok(user);
    });

    test('a duplicate name is a 409 and a result for an unknown task is dropped', async () => {
      const { ws, token, area } = await workspace();
      const worker = await scriptedWorker(p.bus, 'vm', ws, () => ({ status: 'successful', host: 'h1' }));
      try {
        const body = vmBody(ws, area);
        const r = await p.call('POST', '/vms/', token, body);
        assert.equal(r.status, 202);
        await waitTask(r.body.task_id, token);
        const again = await p.call('POST', '/vms/', token, body);
        assert.equal(again.status, 409);
        assert.equal(again.body.field, 'name');
        await p.bus.publish('vm_notification', {
          task_id: '00000000-0000-0000-0000-000000000000',
          status: 'successful',
        });
        await p.bus.publish<string>('vm_notification', { no_task: true });
        // The consumers live on: the next task still completes.
        const r2 = await p.call('POST', '/vms/', token, vmBody(ws, area));
        assert.equal((await waitTask(r2.body.task_id, token)).status, 'successful');
      } finally {
        await worker.stop();
      }
    });

    test('/metrics counts a task no worker takes, and forgets it once it ends', async () => {
      const { ws, token, area } = await workspace();
      const scrape = async () => {
        const text = await (await fetch(`${p.controllerUrl}/metrics`)).text();
        // A sample line: name{labels} value (every service adds its own label, service="controller").
        const value = (name: string, label = '') =>
          Number(
            text
              .split('\n')
              .find((l) => l.startsWith(`${name}{`) && l.includes(label))
              ?.split(' ')
              .pop(),
          );
        return {
          pending: value('kloudak_controller_unfinished_tasks', 'status="pending"'),
          oldest: value('kloudak_controller_oldest_unfinished_task_seconds'),
          outbox: value('kloudak_controller_outbox_unpublished'),
        };
      };
      const before = await scrape();
      assert.ok(
        Number.isFinite(before.pending) && Number.isFinite(before.oldest) && Number.isFinite(before.outbox),
        JSON.stringify(before),
      );
      const r = await p.call('POST', '/vms/', token, vmBody(ws, area)); // no worker of this workspace is listening
      assert.equal(r.status, 202);
      await new Promise((res) => setTimeout(res, 1100));
      const waiting = await scrape();
      assert.equal(waiting.pending, before.pending + 1, 'the task counts as pending');
      assert.ok(
        waiting.oldest >= 1,
        `the oldest unfinished task is at least a second old (${waiting.oldest})`,
      );
      const worker = await scriptedWorker(p.bus, 'vm', ws, () => ({ status: 'successful', host: 'h1' }));
      try {
        assert.equal((await waitTask(r.body.task_id, token)).status, 'successful');
        assert.equal((await scrape()).pending, before.pending, 'no longer counted once successful');
      } finally {
        await worker.stop();
      }
    });
  });
}

describe('an accept interrupted halfway', () => {
  let p: TestPlatform;
  before(async () => {
    p = await startPlatform('pglite', 'memory');
    await p.inv.call('POST', '/templates/', await p.inv.adminToken(), {
      name: 'tiny',
      cpu: 1,
      ram: 0.125,
      disk: 1,
    });
  });
  after(async () => p?.close());

  test('is undone by the sweeper: no record, no address, no task', async () => {
    const admin = await p.inv.adminToken();
    const user = uniqueName('u');
    const ws = uniqueName('ws');
    await p.inv.call('POST', '/workspaces/', await p.inv.user(user), { name: ws });
    const token = await p.inv.login(user);
    const area = uniqueName('area');
    assert.equal(
      (await p.inv.call('POST', '/areas/', admin, { name: area, subnet: '10.77.0.0/29' })).status,
      201,
    );
    // What a controller that died after its inventory writes, before releasing the task, leaves behind: the
    // undos were recorded before the writes (write-ahead), and name what this task made.
    const { createAcceptingTask, recordUndos } = await import('../../src/controller/store.ts');
    const { sweepAccepting } = await import('../../src/controller/usecases/accept.ts');
    const svc = await p.inv.serviceToken();
    const id = '11111111-2222-4333-8444-555555555555';
    await createAcceptingTask(p.controller.database.db, {
      id,
      workspace: ws,
      type: 'vm',
      method: 'POST',
      object: 'half',
      stage: 'C_D',
      retries_left: 2,
      previous: null,
      username: user,
      request_id: 'r',
    });
    await recordUndos(p.controller.database.db, id, [
      { method: 'DELETE', path: `/address/${area}/task/${id}/` },
      { method: 'DELETE', path: `/${ws}/vms/half/?task=${id}` },
      // An undo recorded for a write that never happened (the controller died first) must spare what
      // another task made under the same name.
      { method: 'DELETE', path: `/${ws}/vms/other/?task=${id}` },
    ]);
    const { ip } = (await p.inv.call('GET', `/address/${area}/get_ip/?task=${id}`, svc)).body;
    assert.equal(
      (await p.inv.call('GET', `/address/${area}/get_ip/?task=${id}`, svc)).body.ip,
      ip,
      'asking again answers the same address',
    );
    await p.inv.call('POST', `/${ws}/vms/`, svc, { name: 'half', area, template: 'tiny', ip, task: id });
    assert.equal(
      (
        await p.inv.call('POST', `/${ws}/vms/`, svc, {
          name: 'other',
          area,
          template: 'tiny',
          task: 'another-task',
        })
      ).status,
      201,
    );
    assert.equal((await p.call('GET', `/tasks/${ws}/`, token)).body.tasks.length, 1);
    const swept = await sweepAccepting(p.controller.ctx, 0);
    assert.equal(swept, 1);
    assert.equal((await p.inv.call('GET', `/${ws}/vms/half/`, token)).status, 404);
    assert.equal(
      (await p.inv.call('GET', `/${ws}/vms/other/`, token)).status,
      200,
      "another task's record stays",
    );
    assert.deepEqual((await p.call('GET', `/tasks/${ws}/`, token)).body.tasks, []);
    const ips = [];
    for (let i = 0; i < 5; i++) ips.push((await p.inv.call('GET', `/address/${area}/get_ip/`, svc)).body.ip);
    assert.ok(ips.includes(ip), 'the address came back');
  });
});
