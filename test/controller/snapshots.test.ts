// Issue 15 item 5 (snapshots) at the controller, with a scripted compute: POST /snapshots/, /snapshots/revert/
// and DELETE /snapshots/ check the permission against current membership (403 without vm_can_edit), find the
// VM in the caller's workspace only (404 for another workspace's), refuse bad names (400 naming the field) and
// duplicates (409); inventory's GET /<ws>/vms/<name>/snapshots/ follows the tasks; a snapshot that could not be
// taken leaves no record. On PGlite with the in-process bus (the lab run is test/system/snapshots.test.ts).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { uniqueName } from '../support/env.ts';
import { startPlatform, until, type TestPlatform } from '../support/platform.ts';
import { newTenant, scriptedVm } from '../support/tenants.ts';
import { scriptedWorker } from '../support/workers.ts';

describe('snapshots through the controller (scripted compute)', () => {
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
    return { ...t, name: await scriptedVm(p, t) };
  }

  const list = async (ws: string, vm: string, token: string) => {
    const r = await p.inv.call('GET', `/${ws}/vms/${vm}/snapshots/`, token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.snapshots as { name: string; state: string; running: boolean | null }[];
  };
  const done = async (r: { status: number; body: { task_id?: string } }, token: string) => {
    assert.equal(r.status, 202, JSON.stringify(r.body));
    return (await p.call('GET', `/task/${r.body.task_id}/?wait=30`, token)).body;
  };

  test('take, revert, delete: the tasks carry the action, the records and the VM state follow', async () => {
    const { ws, token, name } = await upVm();
    const worker = await scriptedWorker(p.bus, 'vm', ws, (t) =>
      t.action === 'create'
        ? { status: 'successful', host: 'h1', snapshot_running: true }
        : t.action === 'revert'
          ? { status: 'successful', host: 'h1', state: 'D' }
          : { status: 'successful', host: 'h1' },
    );
    try {
      const made = await done(
        await p.call('POST', '/snapshots/', token, { owner: ws, vm: name, name: 's1' }),
        token,
      );
      assert.equal(made.status, 'successful', JSON.stringify(made));
      assert.equal(made.method, 'SNAPSHOT');
      assert.equal(made.object, name);
      const sent = worker.received.at(-1)!;
      assert.deepEqual([sent.action, sent.snapshot, sent.host], ['create', 's1', 'h1']);
      assert.deepEqual(
        (await list(ws, name, token)).map((s) => [s.name, s.state, s.running]),
        [['s1', 'U', true]],
      );
      const one = await p.inv.call('GET', `/${ws}/vms/${name}/snapshots/s1/`, token);
      assert.equal(one.status, 200);
      assert.equal(one.body.name, 's1');

      const dup = await p.call('POST', '/snapshots/', token, { owner: ws, vm: name, name: 's1' });
      assert.equal(dup.status, 409);
      assert.equal(dup.body.field, 'name');

      const rev = await done(
        await p.call('POST', '/snapshots/revert/', token, { owner: ws, vm: name, name: 's1' }),
        token,
      );
      assert.equal(rev.status, 'successful', JSON.stringify(rev));
      assert.equal(worker.received.at(-1)!.action, 'revert');
      assert.equal(
        (await p.inv.call('GET', `/${ws}/vms/${name}/`, token)).body.state,
        'D',
        'as compute said',
      );

      const del = await done(
        await p.call('DELETE', '/snapshots/', token, { owner: ws, vm: name, name: 's1' }),
        token,
      );
      assert.equal(del.status, 'successful', JSON.stringify(del));
      assert.equal(worker.received.at(-1)!.action, 'delete');
      assert.deepEqual(await list(ws, name, token), []);
      const gone = await p.call('POST', '/snapshots/revert/', token, { owner: ws, vm: name, name: 's1' });
      assert.equal(gone.status, 404);
      assert.equal(gone.body.field, 'name');
    } finally {
      await worker.stop();
    }
  });

  test('bad input and permissions: 4xx naming the field, no task, no record', async () => {
    const { ws, token, name } = await upVm();
    const other = await upVm();
    const cases: [string, string, unknown, number, string | undefined][] = [
      ['POST', '/snapshots/', { owner: ws, vm: name, name: '-x' }, 400, 'name'],
      ['POST', '/snapshots/', { owner: ws, vm: name, name: 'a/b' }, 400, 'name'],
      ['POST', '/snapshots/', { owner: ws, vm: name, name: '' }, 400, 'name'],
      ['POST', '/snapshots/', { owner: ws, vm: name, name: 'x'.repeat(65) }, 400, 'name'],
      ['POST', '/snapshots/', { owner: ws, vm: name }, 400, 'name'],
      ['POST', '/snapshots/', { owner: ws, vm: '../x', name: 's' }, 400, 'vm'],
      // Another workspace's VM is unknown in this one.
      ['POST', '/snapshots/', { owner: ws, vm: other.name, name: 's' }, 404, 'vm'],
      ['POST', '/snapshots/revert/', { owner: ws, vm: name, name: 'never' }, 404, 'name'],
      ['DELETE', '/snapshots/', { owner: ws, vm: name, name: 'never' }, 404, 'name'],
    ];
    for (const [method, path, body, status, field] of cases) {
      const r = await p.call(method, path, token, body);
      assert.equal(r.status, status, `${method} ${path} ${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.field, field, JSON.stringify(r.body));
    }
    // Not a member of the other workspace: its VM is not reachable through it either.
    const foreign = await p.call('POST', '/snapshots/', token, {
      owner: other.ws,
      vm: other.name,
      name: 's',
    });
    assert.equal(foreign.status, 403);
    const read = await p.inv.call('GET', `/${other.ws}/vms/${other.name}/snapshots/`, token);
    assert.equal(read.status, 403);
    assert.equal((await p.inv.call('GET', `/${ws}/vms/${other.name}/snapshots/`, token)).status, 404);

    // A member without vm_can_edit reads the snapshots but changes nothing; with it granted (current
    // membership, not the token's), the same token is taken.
    const weak = uniqueName('w');
    await p.inv.user(weak);
    await p.inv.addMember(ws, token, weak, { vm_can_edit: false });
    const weakToken = await p.inv.login(weak);
    for (const [method, path] of [
      ['POST', '/snapshots/'],
      ['POST', '/snapshots/revert/'],
      ['DELETE', '/snapshots/'],
    ]) {
      const r = await p.call(method, path, weakToken, { owner: ws, vm: name, name: 's' });
      assert.equal(r.status, 403, `${method} ${path}`);
      assert.match(r.body.error, /vm_can_edit/);
    }
    assert.deepEqual(await list(ws, name, weakToken), []);
    const tasks = await p.call('GET', `/tasks/${ws}/`, token);
    assert.equal(tasks.body.tasks.filter((t: { method: string }) => t.method === 'SNAPSHOT').length, 0);
    // Users never write snapshot records in inventory directly.
    const direct = await p.inv.call('POST', `/${ws}/vms/${name}/snapshots/`, token, { name: 's' });
    assert.equal(direct.status, 403);

    // Granted now: the same token is taken (the controller reads current membership, not the token's).
    const grant = await p.inv.call('PUT', `/${ws}/users/${weak}/`, token, { vm_can_edit: true });
    assert.equal(grant.status, 200, JSON.stringify(grant.body));
    const worker = await scriptedWorker(p.bus, 'vm', ws, () => ({ status: 'successful', host: 'h1' }));
    try {
      const ok = await until('the grant reaches the controller', async () => {
        const r = await p.call('POST', '/snapshots/', weakToken, { owner: ws, vm: name, name: 'granted' });
        return r.status === 202 ? r : undefined;
      });
      assert.equal((await done(ok, weakToken)).status, 'successful');
      // And revoked again: refused again (before the snapshot is looked up: an unknown one is a 404 while
      // the permission holds).
      await p.inv.call('PUT', `/${ws}/users/${weak}/`, token, { vm_can_edit: false });
      await until('the revocation reaches the controller', async () => {
        const r = await p.call('DELETE', '/snapshots/', weakToken, { owner: ws, vm: name, name: 'none' });
        return r.status === 403 ? r : undefined;
      });
    } finally {
      await worker.stop();
    }
    assert.deepEqual(
      (await list(ws, name, token)).map((s) => s.name),
      ['granted'],
    );
  });

  test('the snapshots quota: the refusal is 403 naming the quota, its limit and its use; no record', async () => {
    const { ws, token, name } = await upVm();
    const set = await p.inv.call('PUT', `/workspaces/${ws}/quotas/`, admin, { snapshots: 1 });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    const worker = await scriptedWorker(p.bus, 'vm', ws, () => ({ status: 'successful', host: 'h1' }));
    try {
      const first = await done(
        await p.call('POST', '/snapshots/', token, { owner: ws, vm: name, name: 'one' }),
        token,
      );
      assert.equal(first.status, 'successful', JSON.stringify(first));
      const over = await p.call('POST', '/snapshots/', token, { owner: ws, vm: name, name: 'two' });
      assert.equal(over.status, 403, JSON.stringify(over.body));
      assert.deepEqual(
        [over.body.field, over.body.quota, over.body.limit, over.body.used],
        ['quota', 'snapshots', 1, 1],
      );
    } finally {
      await worker.stop();
    }
    assert.deepEqual(
      (await list(ws, name, token)).map((s) => s.name),
      ['one'],
    );
  });

  test('a snapshot that cannot be taken: rolled back, no record left', async () => {
    const { ws, token, name } = await upVm();
    const compute = await scriptedWorker(p.bus, 'vm', ws, () => ({
      status: 'failed',
      error: 'no space left on the pool',
    }));
    try {
      const r = await p.call('POST', '/snapshots/', token, { owner: ws, vm: name, name: 'big' });
      assert.equal(r.status, 202);
      // While it is being taken, the record says so.
      const t = await p.call('GET', `/task/${r.body.task_id}/?wait=60`, token);
      assert.equal(t.body.status, 'rolled_back', JSON.stringify(t.body));
      assert.deepEqual(await list(ws, name, token), []);
      assert.equal((await p.inv.call('GET', `/${ws}/vms/${name}/`, token)).body.state, 'U');
    } finally {
      await compute.stop();
    }
  });
});
