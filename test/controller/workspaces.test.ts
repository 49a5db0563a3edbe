// Workspaces as wholes (issue 14.4): only the owner (or an admin) deletes one, through the controller, as a
// task that deletes every VM, then router, then network through the workers (scripted here; the lab test
// test/system/workspace-delete.test.ts runs the real ones), then the records, with its progress in the task;
// a teardown that cannot finish is rolled back and the workspace is in use again. Renames keep the tasks
// (listed by workspace id), and a workspace re-made under an old name never sees the old one's.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Bus, Consumer } from '../../src/lib/bus/bus.ts';
import { parseIp } from '../../src/lib/ipv4.ts';
import { uniqueName } from '../support/env.ts';
import { joinRoom, startPlatform, until, type TestPlatform } from '../support/platform.ts';
import { scriptedWorker } from '../support/workers.ts';

/** A worker of `queue` for `workspace` that answers every task as `verdict` once `gate` opens; logs each. */
async function gatedWorker(
  bus: Bus,
  queue: 'vm' | 'network',
  workspace: string,
  log: string[],
  verdict: (t: Record<string, unknown>) => { status: 'successful' | 'failed'; error?: string },
) {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const consumers: Consumer[] = [
    await bus.consume(queue, async (d) => {
      if (d.body.owner !== workspace) return;
      log.push(`${String(d.body.type)} ${String(d.body.method)} ${String(d.body.name)}`);
      await gate;
      await bus.publish(`${queue}_notification`, {
        task_id: d.body.task_id,
        attempt: d.body.attempt,
        retries: d.body.retries,
        from: queue === 'vm' ? 'compute' : 'network',
        ...verdict(d.body),
      });
    }),
    await bus.consume(`${queue}_rollback`, async (d) => {
      if (d.body.owner !== workspace) return;
      await bus.publish(`${queue}_notification`, {
        task_id: d.body.task_id,
        attempt: d.body.attempt,
        status: 'successful',
        rollback: true,
      });
    }),
  ];
  return { open, stop: async () => Promise.all(consumers.map((c) => c.cancel())) };
}

describe('workspaces through the controller', () => {
  let p: TestPlatform;
  let admin: string;
  let service: string;
  const area = uniqueName('area');

  before(async () => {
    p = await startPlatform('pglite', 'memory');
    admin = await p.inv.adminToken();
    service = await p.inv.serviceToken('controller');
    await p.inv.call('POST', '/templates/', admin, { name: 'tiny', cpu: 1, ram: 0.125, disk: 1 });
    assert.equal(
      (await p.inv.call('POST', '/areas/', admin, { name: area, subnet: '10.91.0.0/24' })).status,
      201,
    );
  });
  after(async () => p?.close());

  /** A workspace of a fresh owner with two VMs on a network, a router on it, and a member holding every flag. */
  async function populated() {
    const ws = uniqueName('ws');
    const ownerName = uniqueName('own');
    await p.inv.user(ownerName);
    let owner = await p.inv.login(ownerName);
    assert.equal((await p.inv.call('POST', '/workspaces/', owner, { name: ws })).status, 201);
    owner = await p.inv.login(ownerName);
    const deputyName = uniqueName('dep');
    await p.inv.user(deputyName);
    await p.inv.addMember(
      ws,
      owner,
      deputyName,
      Object.fromEntries(
        ['user', 'vm', 'network', 'router'].flatMap((k) =>
          ['add', 'edit', 'delete'].map((a) => [`${k}_can_${a}`, true]),
        ),
      ),
    );
    const deputy = await p.inv.login(deputyName);
    const svc = async (path: string, body: unknown) => {
      const r = await p.inv.call('POST', `/${ws}${path}`, service, body);
      assert.equal(r.status, 201, JSON.stringify(r.body));
    };
    await svc('/networks/', { name: 'net', subnet: '192.168.7.0/24', vlan: 77, state: 'U' });
    await svc('/routers/', { name: 'rt', state: 'U', host: 'h1' });
    await svc('/routers/rt/interfaces/', { network: 'net', ip: '192.168.7.1' });
    const ips: string[] = [];
    for (const vm of ['vm1', 'vm2']) {
      const ip = (await p.inv.call('GET', `/address/${area}/get_ip/`, service)).body.ip as string;
      ips.push(ip);
      await svc('/vms/', { name: vm, area, template: 'tiny', networks: ['net'], ip, state: 'U', host: 'h1' });
    }
    return { ws, owner, deputy, ips };
  }

  test('only the owner or an admin deletes a workspace, and only through the controller', async () => {
    const { ws, owner, deputy } = await populated();
    const del = (token: string) => p.call('DELETE', '/workspaces/', token, { owner: ws });
    assert.equal((await del(deputy)).status, 403, 'a member holding every flag');
    assert.equal((await del(await p.inv.serviceToken('monitoring'))).status, 403, 'a service');
    assert.equal((await del(await p.inv.user(uniqueName('x')))).status, 403, 'a stranger');
    assert.equal(
      (await p.inv.call('DELETE', `/workspaces/${ws}/`, owner)).status,
      403,
      'not straight at inventory, even by its owner',
    );
    assert.equal((await p.inv.call('DELETE', `/workspaces/${ws}/`, admin)).status, 403);
    assert.equal((await p.inv.call('GET', `/${ws}/vms/`, owner)).body.vms.length, 2, 'nothing deleted');
  });

  test('the owner deletes a workspace: VMs, then routers, then networks through the workers, then its records', async () => {
    const { ws, owner, ips } = await populated();
    const log: string[] = [];
    const ok = () => ({ status: 'successful' as const });
    const vmWorker = await gatedWorker(p.bus, 'vm', ws, log, ok);
    const netWorker = await gatedWorker(p.bus, 'network', ws, log, ok);
    const room = await joinRoom(p.notificationUrl, ws, owner);
    try {
      const r = await p.call('DELETE', '/workspaces/', owner, { owner: ws });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      assert.deepEqual([r.body.type, r.body.method, r.body.name], ['workspace', 'DELETE', ws]);
      // While it runs: its progress shows, and nothing new goes in.
      await until('the VMs are being deleted', async () => {
        const t = (await p.call('GET', `/task/${r.body.task_id}/`, owner)).body;
        return t.stage === 'deleting VMs: 2 left' || undefined;
      });
      const late = await p.call('POST', '/networks/', owner, { owner: ws, name: 'late' });
      assert.equal(late.status, 409, JSON.stringify(late.body));
      vmWorker.open();
      netWorker.open();
      const t = (await p.call('GET', `/task/${r.body.task_id}/?wait=60`, admin)).body;
      assert.equal(t.status, 'successful', JSON.stringify(t));
      assert.deepEqual(log.slice(0, 2).sort(), ['vm DELETE vm1', 'vm DELETE vm2']);
      assert.deepEqual(log.slice(2), ['router DELETE rt', 'network DELETE net']);
      assert.equal((await p.inv.call('GET', `/workspaces/${ws}/`, admin)).status, 404, 'records gone');
      // The area holds other tests' workspaces' leases too: only this one's VMs' addresses must be free.
      const leases = await p.inv.inventory.database.db
        .selectFrom('ip_leases')
        .innerJoin('areas', 'areas.id', 'ip_leases.area_id')
        .select('ip_leases.ip')
        .where('areas.name', '=', area)
        .where(
          'ip_leases.ip',
          'in',
          ips.map((ip) => parseIp(ip)!),
        )
        .execute();
      assert.equal(leases.length, 0, `the VMs' addresses ${ips.join(', ')} are free`);
      const stages = room.messages.filter((m) => m.task_id === r.body.task_id).map((m) => m.stage);
      assert.ok(stages.includes('deleting routers: 1 left'), stages.join(' | '));
      assert.ok(stages.includes('deleting networks: 1 left'));
      assert.ok(stages.includes('deleting the records'));
    } finally {
      room.close();
      await vmWorker.stop();
      await netWorker.stop();
    }
  });

  test('a teardown that cannot finish is rolled back: the workspace is in use again with what is left', async () => {
    const { ws, owner } = await populated();
    const vms = await scriptedWorker(p.bus, 'vm', ws, () => ({ status: 'successful' }));
    const nets = await scriptedWorker(p.bus, 'network', ws, (t) =>
      t.type === 'router' ? { status: 'failed', error: 'namespace stuck' } : { status: 'successful' },
    );
    try {
      const r = await p.call('DELETE', '/workspaces/', owner, { owner: ws });
      assert.equal(r.status, 202);
      const t = await until(
        'the teardown to end',
        async () => {
          const x = (await p.call('GET', `/task/${r.body.task_id}/?wait=30`, owner)).body;
          return ['rolled_back', 'failed', 'successful'].includes(x.status) ? x : undefined;
        },
        180_000,
      );
      assert.equal(t.status, 'rolled_back', JSON.stringify(t));
      assert.match(t.error, /router rt could not be deleted/);
      const detail = (await p.inv.call('GET', `/workspaces/${ws}/`, owner)).body;
      assert.equal(detail.state, 'U');
      assert.deepEqual((await p.inv.call('GET', `/${ws}/vms/`, owner)).body.vms, [], 'the VMs stay deleted');
      assert.equal((await p.inv.call('GET', `/${ws}/routers/rt/`, owner)).body.state, 'U');
      assert.equal((await p.call('POST', '/networks/', owner, { owner: ws, name: 'again' })).status, 202);
    } finally {
      await vms.stop();
      await nets.stop();
    }
  });

  test('a rename keeps the workspace’s tasks; one re-made under the old name sees none of them', async () => {
    const ws = uniqueName('ws');
    const ownerName = uniqueName('own');
    const owner = await p.inv.user(ownerName);
    assert.equal((await p.inv.call('POST', '/workspaces/', owner, { name: ws })).status, 201);
    const member = uniqueName('m');
    await p.inv.user(member);
    await p.inv.addMember(ws, owner, member);
    const memberToken = await p.inv.login(member);
    const t = await p.call('POST', '/networks/', owner, { owner: ws, name: 'n1' });
    assert.equal(t.status, 202);

    const renamed = uniqueName('ws');
    assert.equal((await p.inv.call('PUT', `/workspaces/${ws}/`, memberToken, { name: renamed })).status, 403);
    const r = await p.inv.call('PUT', `/workspaces/${ws}/`, owner, { name: renamed });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.name, renamed);
    assert.equal(
      (await p.inv.call('PUT', `/workspaces/${renamed}/`, owner, { name: 'healthz' })).status,
      400,
    );
    await until('the member works under the new name', async () => {
      const l = await p.call('GET', `/tasks/${renamed}/`, memberToken);
      return (
        (l.status === 200 && l.body.tasks.some((x: { task_id: string }) => x.task_id === t.body.task_id)) ||
        undefined
      );
    });
    assert.equal((await p.call('GET', `/tasks/${ws}/`, memberToken)).status, 403, 'the old name is nothing');
    assert.equal((await p.call('GET', `/task/${t.body.task_id}/`, memberToken)).status, 200);

    // Someone else makes a workspace under the old name: none of the first one's tasks are its.
    const other = await p.inv.user(uniqueName('o'));
    assert.equal((await p.inv.call('POST', '/workspaces/', other, { name: ws })).status, 201);
    const theirs = await until('the new owner lists its tasks', async () => {
      const l = await p.call('GET', `/tasks/${ws}/`, other);
      return l.status === 200 ? l.body.tasks : undefined;
    });
    assert.deepEqual(theirs, []);
    assert.equal((await p.call('GET', `/task/${t.body.task_id}/`, other)).status, 404);
  });
});
