// Issue 18 item 3 (anti-affinity groups) at the API, with a scripted compute (the lab run, where placement
// really spreads the VMs, is test/system/affinity.test.ts): POST /vms/ and update_dict take `affinity_group`,
// a bad name is a 400 naming the field; the group goes to compute in the task and to the VM's record; the
// workspace's groups are listed at inventory's GET /<ws>/affinity_groups/ for its members only (checked
// against current membership), and a same-named group of another workspace is another group; a warning
// compute gives (group not honoured) stays on the task; a drain's break_affinity must be a boolean.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { uniqueName } from '../support/env.ts';
import { startPlatform, type TestPlatform } from '../support/platform.ts';
import { scriptedWorker, type ScriptedWorker } from '../support/workers.ts';

describe('anti-affinity groups through the API (scripted compute)', () => {
  let p: TestPlatform;
  let admin: string;
  let area = '';
  let ws = '';
  let owner = '';
  let worker: ScriptedWorker;
  /** Where the scripted compute says each VM landed, and its warning. */
  const landing = new Map<string, { host: string; warning?: string }>();

  before(async () => {
    p = await startPlatform('pglite', 'memory');
    admin = await p.inv.adminToken();
    await p.inv.call('POST', '/templates/', admin, { name: 'tiny', cpu: 1, ram: 0.125, disk: 1 });
    area = uniqueName('area');
    assert.equal(
      (await p.inv.call('POST', '/areas/', admin, { name: area, subnet: '10.77.3.0/27' })).status,
      201,
    );
    const user = uniqueName('u');
    owner = await p.inv.user(user);
    ws = uniqueName('ws');
    assert.equal((await p.inv.call('POST', '/workspaces/', owner, { name: ws })).status, 201);
    owner = await p.inv.login(user);
    worker = await scriptedWorker(p.bus, 'vm', ws, (t) => {
      const l = landing.get(String(t.name)) ?? { host: 'h1' };
      return { status: 'successful', host: l.host, ...(l.warning ? { warning: l.warning } : {}) };
    });
  });
  after(async () => {
    await worker?.stop();
    await p?.close();
  });

  const vmBody = (name: string, extra: Record<string, unknown> = {}) => ({
    name,
    owner: ws,
    area,
    template: 'tiny',
    password: 'pw-123456',
    ...extra,
  });
  const finish = async (r: { status: number; body: any }, token = owner) => {
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const t = await p.call('GET', `/task/${r.body.task_id}/?wait=30`, token);
    assert.equal(t.body.status, 'successful', JSON.stringify(t.body));
    return t.body;
  };
  const groups = async (w = ws, token = owner) => p.inv.call('GET', `/${w}/affinity_groups/`, token);

  test('a bad group name is a 400 naming the field, on create and on update', async () => {
    for (const bad of ['web server', '../x', '', 'x'.repeat(65), 'a;b', 7]) {
      const r = await p.call('POST', '/vms/', owner, vmBody(uniqueName('vm'), { affinity_group: bad }));
      assert.equal(r.status, 400, `${JSON.stringify(bad)}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.field, 'affinity_group');
    }
    const r = await p.call('PUT', '/vms/', owner, {
      owner: ws,
      name: 'whatever',
      update_dict: { affinity_group: 'no spaces' },
    });
    assert.equal(r.status, 400);
    assert.equal(r.body.field, 'update_dict.affinity_group');
    // Nothing was written: no VM, no group.
    assert.deepEqual((await groups()).body, { affinity_groups: [] });
  });

  test('the group goes to compute and to the record; the workspace lists it with its VMs and hosts', async () => {
    landing.set('web1', { host: 'h1' });
    landing.set('web2', { host: 'h2' });
    for (const name of ['web1', 'web2'])
      await finish(await p.call('POST', '/vms/', owner, vmBody(name, { affinity_group: 'web' })));
    const sent = worker.received.filter((t) => t.method === 'POST');
    assert.deepEqual(
      sent.map((t) => [t.name, t.affinity_group]),
      [
        ['web1', 'web'],
        ['web2', 'web'],
      ],
    );
    assert.equal((await p.inv.call('GET', `/${ws}/vms/web1/`, owner)).body.affinity_group, 'web');
    assert.deepEqual((await groups()).body, {
      affinity_groups: [
        {
          name: 'web',
          policy: 'anti_affinity',
          spread: true,
          vms: [
            { name: 'web1', host: 'h1' },
            { name: 'web2', host: 'h2' },
          ],
        },
      ],
    });
    // A VM without a group is in none.
    await finish(await p.call('POST', '/vms/', owner, vmBody('loner')));
    assert.equal((await p.inv.call('GET', `/${ws}/vms/loner/`, owner)).body.affinity_group, null);
    assert.equal((await groups()).body.affinity_groups.length, 1);
  });

  test("compute's warning (group not honoured) stays on the task; the list says the group is not spread", async () => {
    const warning =
      'anti-affinity group web not honoured: h1 also runs web1 (no other host of the area has room)';
    landing.set('web3', { host: 'h1', warning });
    const t = await finish(await p.call('POST', '/vms/', owner, vmBody('web3', { affinity_group: 'web' })));
    assert.equal(t.warning, warning);
    const [g] = (await groups()).body.affinity_groups;
    assert.equal(g.spread, false);
    assert.deepEqual(
      g.vms.map((v: { name: string }) => v.name),
      ['web1', 'web2', 'web3'],
    );
    // A task without one shows none.
    const plain = (await p.call('GET', `/tasks/${ws}/`, owner)).body.tasks.filter(
      (x: { object: string }) => x.object === 'web1',
    );
    assert.ok(plain.length && plain.every((x: { warning?: string }) => x.warning === undefined));
  });

  test('update_dict joins and leaves a group; the change reaches compute and the record', async () => {
    const joined = await finish(
      await p.call('PUT', '/vms/', owner, {
        owner: ws,
        name: 'loner',
        update_dict: { affinity_group: 'db' },
      }),
    );
    assert.equal(joined.status, 'successful');
    const put = worker.received.filter((t) => t.method === 'PUT').at(-1) as { update_dict: unknown };
    assert.deepEqual(put.update_dict, { affinity_group: 'db' });
    assert.equal((await p.inv.call('GET', `/${ws}/vms/loner/`, owner)).body.affinity_group, 'db');
    assert.deepEqual(
      (await groups()).body.affinity_groups.map((g: { name: string }) => g.name),
      ['db', 'web'],
    );
    await finish(
      await p.call('PUT', '/vms/', owner, {
        owner: ws,
        name: 'loner',
        update_dict: { affinity_group: null },
      }),
    );
    assert.equal((await p.inv.call('GET', `/${ws}/vms/loner/`, owner)).body.affinity_group, null);
    assert.deepEqual(
      (await groups()).body.affinity_groups.map((g: { name: string }) => g.name),
      ['web'],
    );
  });

  test("another workspace's group of the same name is another group", async () => {
    const user = uniqueName('u');
    let other = await p.inv.user(user);
    const ws2 = uniqueName('ws');
    assert.equal((await p.inv.call('POST', '/workspaces/', other, { name: ws2 })).status, 201);
    other = await p.inv.login(user);
    // One scripted compute at a time: each drops the other workspaces' tasks.
    await worker.stop();
    const w2 = await scriptedWorker(p.bus, 'vm', ws2, () => ({ status: 'successful', host: 'h2' }));
    try {
      await finish(
        await p.call('POST', '/vms/', other, { ...vmBody('web9', { affinity_group: 'web' }), owner: ws2 }),
        other,
      );
    } finally {
      await w2.stop();
    }
    const mine = (await groups()).body.affinity_groups;
    assert.deepEqual(
      mine[0].vms.map((v: { name: string }) => v.name),
      ['web1', 'web2', 'web3'],
    );
    const theirs = (await groups(ws2, other)).body.affinity_groups;
    assert.deepEqual(theirs, [
      { name: 'web', policy: 'anti_affinity', spread: true, vms: [{ name: 'web9', host: 'h2' }] },
    ]);
    // Neither sees the other's groups, nor joins a VM to them from outside.
    assert.notEqual((await groups(ws, other)).status, 200);
    const r = await p.call('PUT', '/vms/', other, {
      owner: ws,
      name: 'web1',
      update_dict: { affinity_group: 'x' },
    });
    assert.equal(r.status, 403);
  });

  test('permissions follow current membership', async () => {
    const name = uniqueName('m');
    const token = await p.inv.user(name);
    await p.inv.addMember(ws, owner, name, {});
    const member = await p.inv.login(name);
    // A member reads the groups; without vm_can_edit or vm_can_add it changes nothing.
    assert.equal((await groups(ws, member)).status, 200);
    const put = await p.call('PUT', '/vms/', member, {
      owner: ws,
      name: 'web1',
      update_dict: { affinity_group: 'x' },
    });
    assert.equal(put.status, 403);
    const post = await p.call('POST', '/vms/', member, vmBody(uniqueName('vm'), { affinity_group: 'web' }));
    assert.equal(post.status, 403);
    // Users do not write VM records in inventory directly (only services do).
    const direct = await p.inv.call('PUT', `/${ws}/vms/web1/`, owner, { affinity_group: 'x' });
    assert.equal(direct.status, 403);
    // Removed from the workspace, the same token reads nothing.
    assert.equal((await p.inv.call('DELETE', `/${ws}/users/${name}/`, owner)).status, 200);
    assert.notEqual((await groups(ws, member)).status, 200);
    assert.ok(token);
  });

  test("a drain's break_affinity must be a boolean", async () => {
    const r = await p.call('POST', '/hosts/drain/', admin, { host: 'h1', break_affinity: 'yes' });
    assert.equal(r.status, 400);
    assert.equal(r.body.field, 'break_affinity');
  });
});
