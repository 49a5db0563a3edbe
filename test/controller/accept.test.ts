// Issue 16 "Must show": the controller's one-round-trip accept leaves nothing behind when it fails at any step
// (inventory refuses; inventory wrote but the answer was lost; the call never reached inventory; the task's
// commit fails after inventory wrote; the controller died after inventory wrote, found by the sweeper), undoes
// a delete's state change, and lets 16 concurrent creates in one area all succeed with distinct addresses
// while two creates never share one. On PostgreSQL with RabbitMQ and on PGlite with the in-process bus.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Principal } from '../../src/lib/auth.ts';
import { unavailable } from '../../src/lib/errors.ts';
import type { ControllerContext } from '../../src/controller/context.ts';
import { createAcceptingTask } from '../../src/controller/store.ts';
import { accept, sweepAccepting } from '../../src/controller/usecases/accept.ts';
import { createVm, deleteVm } from '../../src/controller/usecases/vms.ts';
import type { VmCreateTask } from '../../src/lib/contracts/messages.ts';
import { uniqueName } from '../support/env.ts';
import type { Backend } from '../support/inventory.ts';
import { startPlatform, type BusKind, type TestPlatform } from '../support/platform.ts';

const COMBOS: [Backend, BusKind][] = [
  ['postgres', 'amqp'],
  ['pglite', 'memory'],
];

for (const [backend, busKind] of COMBOS) {
  describe(`accept in one round trip (${backend}, ${busKind} bus)`, () => {
    let p: TestPlatform;
    let admin: string;

    before(async () => {
      p = await startPlatform(backend, busKind);
      admin = await p.inv.adminToken();
      await p.inv.call('POST', '/templates/', admin, { name: 'tiny', cpu: 1, ram: 0.125, disk: 1 });
    });
    after(async () => p?.close());

    /** A workspace, a user with every permission in it (token and principal), and an area of `subnet`. */
    async function workspace(subnet: string) {
      const ws = uniqueName('ws');
      const user = uniqueName('u');
      await p.inv.call('POST', '/workspaces/', await p.inv.user(user), { name: ws });
      const token = await p.inv.login(user);
      const area = uniqueName('area');
      assert.equal((await p.inv.call('POST', '/areas/', admin, { name: area, subnet })).status, 201);
      const principal: Principal = await p.controller.ctx.auth.verify(token);
      return { ws, token, area, principal };
    }
    const vmBody = (ws: string, area: string, name = uniqueName('vm')) => ({
      name,
      owner: ws,
      area,
      template: 'tiny',
      password: 'pw-123456',
    });
    const db = () => p.controller.database.db;
    const tasksOf = async (ws: string) =>
      db().selectFrom('tasks').select(['id', 'status']).where('workspace', '=', ws).execute();
    const leases = async (area: string) =>
      (
        await p.inv.inventory.database.db
          .selectFrom('ip_leases')
          .innerJoin('areas', 'areas.id', 'ip_leases.area_id')
          .select('ip_leases.ip')
          .where('areas.name', '=', area)
          .execute()
      ).length;
    const vmStatus = async (ws: string, name: string) =>
      (await p.inv.call('GET', `/${ws}/vms/${name}/`, admin)).status;
    /** The controller's context with inventory's accept call replaced: a fault between the two services. */
    const withAccepts = (put: ControllerContext['inventory']['accepts']['put']): ControllerContext => {
      const ctx = p.controller.ctx;
      return { ...ctx, inventory: { ...ctx.inventory, accepts: { ...ctx.inventory.accepts, put } } };
    };

    test('inventory refuses: a 4xx naming the field, no task row, nothing written', async () => {
      const { ws, token, area } = await workspace('10.150.0.0/29');
      for (const [body, status, field] of [
        [{ ...vmBody(ws, area), template: 'nope' }, 400, 'template'],
        [{ ...vmBody(ws, area), area: 'nope' }, 400, 'area'],
        [{ ...vmBody(ws, area), networks: ['nope'] }, 400, 'networks'],
      ] as const) {
        const r = await p.call('POST', '/vms/', token, body);
        assert.deepEqual([r.status, r.body.field], [status, field], JSON.stringify(r.body));
      }
      const gone = await p.call('DELETE', '/vms/', token, { owner: ws, name: 'ghost' });
      assert.deepEqual([gone.status, gone.body.field], [404, 'name']);
      // A workspace being deleted (its teardown task marked it) takes nothing new: 409 on the owner.
      const dying = await workspace('10.150.1.0/29');
      const svc = await p.inv.serviceToken();
      const marked = await p.inv.call('PUT', `/workspaces/${dying.ws}/`, svc, { state: 'X' });
      assert.equal(marked.status, 200, JSON.stringify(marked.body));
      const late = await p.call('POST', '/vms/', dying.token, vmBody(dying.ws, area));
      assert.deepEqual([late.status, late.body.field], [409, 'owner'], JSON.stringify(late.body));
      assert.deepEqual(await tasksOf(dying.ws), []);
      assert.deepEqual(await tasksOf(ws), []);
      assert.equal(await leases(area), 0);
    });

    test('inventory wrote but its answer was lost: the write is undone, the task forgotten', async () => {
      const { ws, area, principal } = await workspace('10.151.0.0/29');
      const body = vmBody(ws, area);
      const real = p.controller.ctx.inventory.accepts.put;
      let wrote = false;
      const ctx = withAccepts(async (...args) => {
        await real(...args);
        wrote = true;
        throw unavailable('inventory unreachable: the answer was lost on the way');
      });
      await assert.rejects(createVm(ctx, principal, body, 'req-lost'), /answer was lost/);
      assert.ok(wrote, 'inventory did write');
      assert.equal(await vmStatus(ws, body.name), 404, 'the record is gone');
      assert.equal(await leases(area), 0, 'the address went back');
      assert.deepEqual(await tasksOf(ws), [], 'the task row is gone');
    });

    test('the call never reached inventory: the undo is harmless, and a late arrival of it is refused', async () => {
      const { ws, area, principal } = await workspace('10.152.0.0/29');
      const body = vmBody(ws, area);
      const real = p.controller.ctx.inventory.accepts.put;
      let held: (() => Promise<unknown>) | undefined;
      const ctx = withAccepts(async (...args) => {
        held = () => real(...args); // still on the way when the controller gives up
        throw unavailable('inventory unreachable');
      });
      await assert.rejects(createVm(ctx, principal, body, 'req-never'), /unreachable/);
      assert.deepEqual(await tasksOf(ws), []);
      // The request arrives after the undo: refused, nothing written.
      await assert.rejects(held!(), (e: Error & { kind?: string; field?: string }) => {
        assert.equal(e.kind, 'conflict');
        assert.equal(e.field, 'task');
        return true;
      });
      assert.equal(await vmStatus(ws, body.name), 404);
      assert.equal(await leases(area), 0);
    });

    test("the task's commit fails after inventory wrote: undone, nothing left", async () => {
      const { ws, area, principal } = await workspace('10.153.0.0/29');
      const name = uniqueName('vm');
      await assert.rejects(
        accept<VmCreateTask, 'vm-create'>(p.controller.ctx, {
          principal,
          requestId: 'req-commit',
          owner: ws,
          type: 'vm',
          method: 'POST',
          name,
          stage: 'C_D',
          inventory: { op: 'vm-create', body: { name, area, template: 'tiny' } },
          message: () => {
            throw new Error('the database went away before the task committed');
          },
        }),
        /went away/,
      );
      assert.equal(await vmStatus(ws, name), 404);
      assert.equal(await leases(area), 0);
      assert.deepEqual(await tasksOf(ws), []);
    });

    test('a controller that died after inventory wrote: the sweeper undoes it, and spares what others made', async () => {
      const { ws, area, principal } = await workspace('10.154.0.0/29');
      const ctx = p.controller.ctx;
      // What a controller leaves when it dies right after the inventory call: the row, its undo (recorded
      // first), and the write.
      const dead = async (name: string, write: boolean) => {
        const id = randomUUID();
        await createAcceptingTask(
          ctx.db,
          {
            id,
            workspace: ws,
            type: 'vm',
            method: 'POST',
            object: name,
            stage: 'C_D',
            retries_left: 2,
            previous: null,
            username: principal.username,
            request_id: 'req-dead',
          },
          [{ op: 'undo_accept', workspace: ws, task: id }],
        );
        if (write) await ctx.inventory.accepts.put(ws, id, 'vm-create', { name, area, template: 'tiny' });
      };
      const half = uniqueName('half');
      await dead(half, true);
      // One that died before its write; a VM of the same name made since by another task must stay.
      const other = uniqueName('other');
      await dead(other, false);
      const made = await p.call(
        'POST',
        '/vms/',
        await p.inv.login(principal.username),
        vmBody(ws, area, other),
      );
      assert.equal(made.status, 202, JSON.stringify(made.body));
      assert.equal(await vmStatus(ws, half), 200);
      assert.equal(await leases(area), 2);
      const swept = await sweepAccepting(ctx, 0);
      assert.ok(swept >= 2, `${swept} swept`);
      assert.equal(await vmStatus(ws, half), 404, 'the dead accept is undone');
      assert.equal(await vmStatus(ws, other), 200, "another task's record stays");
      assert.equal(await leases(area), 1);
      assert.deepEqual(
        (await tasksOf(ws)).map((t) => t.status),
        ['pending'],
      );
    });

    test("a delete whose answer was lost: the record's state is put back", async () => {
      const { ws, token, area, principal } = await workspace('10.155.0.0/29');
      const body = vmBody(ws, area);
      assert.equal((await p.call('POST', '/vms/', token, body)).status, 202);
      // The create's task is still running: the record is C_D, and a second change waits its turn.
      const busy = await p.call('DELETE', '/vms/', token, { owner: ws, name: body.name });
      assert.deepEqual([busy.status, busy.body.field], [409, 'name']);
      await db().updateTable('tasks').set({ status: 'successful' }).where('workspace', '=', ws).execute();
      const real = p.controller.ctx.inventory.accepts.put;
      const ctx = withAccepts(async (...args) => {
        await real(...args);
        throw unavailable('the answer was lost');
      });
      await assert.rejects(deleteVm(ctx, principal, { owner: ws, name: body.name }, 'req-del'), /lost/);
      assert.equal((await p.inv.call('GET', `/${ws}/vms/${body.name}/`, token)).body.state, 'C_D');
      const del = await p.call('DELETE', '/vms/', token, { owner: ws, name: body.name });
      assert.equal(del.status, 202, JSON.stringify(del.body));
      assert.equal((await p.inv.call('GET', `/${ws}/vms/${body.name}/`, token)).body.state, 'X');
    });

    test('task lists: 100 by default, at most 1,000, page after page by marker, newest first', async () => {
      const { ws, token } = await workspace('10.158.0.0/29');
      // Written straight into the table, in one statement (one created_at): the order falls back on the id.
      const ids = Array.from({ length: 230 }, () => randomUUID());
      await db()
        .insertInto('tasks')
        .values(
          ids.map((id, i) => ({
            id,
            workspace: ws,
            type: 'network' as const,
            method: 'POST' as const,
            object: `n${i}`,
            status: i % 2 ? ('successful' as const) : ('running' as const),
            stage: '',
            retries_left: 0,
            attempt: 1,
            body: JSON.stringify({ password: 'never-shown' }),
            previous: JSON.stringify(null),
            undos: JSON.stringify(null),
            error: null,
            username: 'u',
            request_id: 'r',
            finished_at: i % 2 ? new Date() : null,
          })),
        )
        .execute();
      const first = await p.call('GET', `/tasks/${ws}/`, token);
      assert.equal(first.body.tasks.length, 100);
      assert.equal(JSON.stringify(first.body).includes('never-shown'), false, 'the message never shows');
      assert.equal((await p.call('GET', `/tasks/${ws}/?limit=5000`, token)).body.tasks.length, 230);
      const seen: string[] = [];
      for (;;) {
        const marker = seen.length ? `&marker=${seen[seen.length - 1]}` : '';
        const page = (await p.call('GET', `/tasks/${ws}/?limit=64${marker}`, token)).body.tasks;
        seen.push(...page.map((t: { task_id: string }) => t.task_id));
        if (page.length < 64) break;
      }
      assert.deepEqual(seen, [...ids].sort().reverse(), 'every task once, newest (then highest id) first');
      const running = (await p.call('GET', `/running_tasks/${ws}/?limit=1000`, token)).body.tasks;
      assert.equal(running.length, 115);
    });

    test('16 concurrent creates in one area all succeed with distinct addresses', async () => {
      const { ws, token, area } = await workspace('10.156.0.0/27');
      const answers = await Promise.all(
        Array.from({ length: 16 }, () => p.call('POST', '/vms/', token, vmBody(ws, area))),
      );
      assert.deepEqual(
        answers.map((r) => r.status),
        Array(16).fill(202),
        JSON.stringify(answers.find((r) => r.status !== 202)?.body),
      );
      const ips = answers.map((r) => r.body.ip as string);
      assert.equal(new Set(ips).size, 16, `duplicates in ${ips.join(' ')}`);
      assert.equal(await leases(area), 16);
      assert.equal((await tasksOf(ws)).length, 16);
    });

    test('two creates cannot take one address: one is accepted, the other refused on area', async () => {
      const { ws, token, area } = await workspace('10.157.0.0/30');
      const answers = await Promise.all([0, 1].map(() => p.call('POST', '/vms/', token, vmBody(ws, area))));
      assert.deepEqual(
        answers.map((r) => r.status).sort(),
        [202, 409],
        JSON.stringify(answers.map((r) => r.body)),
      );
      assert.equal(answers.find((r) => r.status === 409)?.body.field, 'area');
      assert.equal(await leases(area), 1);
      assert.equal((await tasksOf(ws)).length, 1, 'the refused one left no task');
    });
  });
}
