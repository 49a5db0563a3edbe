// Issue 17 items 2 and 3 "Must show": workspace quotas and per-area ceilings, checked in the accept
// transaction (PUT /<ws>/accepts/<op>/<task>/, the call the controller makes for every create): 20 concurrent
// creates with 3 units left accept exactly 3; a refusal is a 403 naming the quota, its limit and its use; use
// is right after deletes and after an undone (rolled-back) create. On each backend.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { uniqueName } from '../support/env.ts';
import { BACKENDS, startInventory, type TestInventory } from '../support/inventory.ts';

type Figures = Record<'vms' | 'vcpus' | 'ram' | 'disk' | 'networks' | 'routers' | 'snapshots', number>;
interface Quotas {
  workspace: string;
  limits: Figures;
  used: Figures;
  custom: string[];
  areas: {
    area: string;
    vlans: { limit: number; used: number };
    public_ips: { limit: number; used: number };
  }[];
}

for (const backend of BACKENDS) {
  void describe(`quotas (${backend})`, () => {
    let inv: TestInventory;
    let admin: string;
    let svc: string;
    let owner: string;
    let template: string;
    let subnets = 0;

    before(async () => {
      // Small per-area ceilings, so a test reaches them with a few records.
      inv = await startInventory(backend, { AREA_MAX_PUBLIC_IPS: '4', AREA_MAX_VLANS: '3', QUOTA_VMS: '10' });
      admin = await inv.adminToken();
      svc = await inv.serviceToken();
      owner = await inv.user(uniqueName('owner'));
      template = uniqueName('tpl');
      const t = await inv.call('POST', '/templates/', admin, { name: template, cpu: 2, ram: 0.5, disk: 4 });
      assert.equal(t.status, 201);
    });
    after(async () => inv?.close());

    const workspace = async () => {
      const ws = uniqueName('ws');
      assert.equal((await inv.call('POST', '/workspaces/', owner, { name: ws })).status, 201);
      return ws;
    };
    const area = async () => {
      const name = uniqueName('area');
      const subnet = `10.${150 + subnets++}.0.0/24`;
      assert.equal((await inv.call('POST', '/areas/', admin, { name, subnet })).status, 201);
      return name;
    };
    const quotas = async (ws: string, token = owner) => {
      const r = await inv.call('GET', `/workspaces/${ws}/quotas/`, token);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body as Quotas;
    };
    const setQuotas = async (ws: string, body: Partial<Record<keyof Figures, number | null>>) => {
      const r = await inv.call('PUT', `/workspaces/${ws}/quotas/`, admin, body);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body as Quotas;
    };
    const put = (ws: string, op: string, body: unknown, task = randomUUID()) =>
      inv.call('PUT', `/${ws}/accepts/${op}/${task}/`, svc, body);
    const createVm = (ws: string, a: string, task = randomUUID()) =>
      put(ws, 'vm-create', { name: uniqueName('vm'), area: a, template }, task);
    /** A VM's delete as the controller runs it: the accept marks it, the finished task removes the record. */
    const deleteVm = async (ws: string, name: string) => {
      const task = randomUUID();
      assert.equal((await put(ws, 'vm-delete', { name }, task)).status, 200);
      const r = await inv.call('DELETE', `/${ws}/vms/${name}/`, svc);
      assert.equal(r.status, 200, JSON.stringify(r.body));
    };

    void test('members read limits and use; only admins change them; null is the default again', async () => {
      const ws = await workspace();
      const q = await quotas(ws);
      assert.deepEqual(q.limits, {
        vms: 10,
        vcpus: 400,
        ram: 400,
        disk: 4000,
        networks: 100,
        routers: 50,
        snapshots: 100,
      });
      assert.deepEqual(q.used, { vms: 0, vcpus: 0, ram: 0, disk: 0, networks: 0, routers: 0, snapshots: 0 });
      assert.deepEqual(q.custom, []);
      const refused = await inv.call('PUT', `/workspaces/${ws}/quotas/`, owner, { vms: 100 });
      assert.equal(refused.status, 403);
      const stranger = await inv.user(uniqueName('stranger'));
      assert.equal((await inv.call('GET', `/workspaces/${ws}/quotas/`, stranger)).status, 403);
      const bad = await inv.call('PUT', `/workspaces/${ws}/quotas/`, admin, { vms: -1 });
      assert.deepEqual([bad.status, bad.body.field], [400, 'vms']);
      // A key that is no quota was once written as a column name: 500 (found by the fuzzer).
      for (const [key, field] of [
        ['', 'body'],
        ['updated_at', 'updated_at'],
      ]) {
        const unknown = await inv.call('PUT', `/workspaces/${ws}/quotas/`, admin, { [key]: 1, vms: 3 });
        assert.deepEqual([unknown.status, unknown.body.field], [400, field], JSON.stringify(unknown.body));
      }
      assert.deepEqual((await quotas(ws)).custom, [], 'a refused change changes nothing');
      const set = await setQuotas(ws, { vms: 2, snapshots: 7, ram: 1.5 });
      assert.deepEqual([set.limits.vms, set.limits.snapshots, set.limits.ram], [2, 7, 1.5]);
      assert.deepEqual(set.custom.sort(), ['ram', 'snapshots', 'vms']);
      assert.equal((await quotas(ws)).limits.snapshots, 7, 'the snapshot limit is stored and shown');
      const back = await setQuotas(ws, { vms: null });
      assert.equal(back.limits.vms, 10);
      assert.deepEqual(back.custom.sort(), ['ram', 'snapshots']);
    });

    void test('20 concurrent creates with 3 VMs left accept exactly 3; the others are told the quota', async () => {
      const ws = await workspace();
      const [a1, a2] = [await area(), await area()];
      for (let i = 0; i < 2; i++) assert.equal((await createVm(ws, a1)).status, 200);
      await setQuotas(ws, { vms: 5 });
      const answers = await Promise.all(Array.from({ length: 20 }, () => createVm(ws, a2)));
      const ok = answers.filter((r) => r.status === 200);
      const refused = answers.filter((r) => r.status !== 200);
      assert.equal(ok.length, 3, JSON.stringify(answers.map((r) => [r.status, r.body])));
      for (const r of refused) {
        assert.equal(r.status, 403, JSON.stringify(r.body));
        assert.deepEqual(
          { field: r.body.field, quota: r.body.quota, limit: r.body.limit, used: r.body.used },
          { field: 'quota', quota: 'vms', limit: 5, used: 5 },
        );
        assert.match(r.body.error, /vms/);
      }
      const q = await quotas(ws);
      assert.deepEqual(
        [q.used.vms, q.used.vcpus, q.used.ram, q.used.disk],
        [5, 10, 2.5, 20],
        'each VM counts its template',
      );
      const vms = (await inv.call('GET', `/${ws}/vms/`, svc)).body.vms as unknown[];
      assert.equal(vms.length, 5, 'no refused create left a record');
    });

    void test('use is right after deletes and after an undone create', async () => {
      const ws = await workspace();
      const a = await area();
      await setQuotas(ws, { vms: 2 });
      const first = await createVm(ws, a);
      assert.equal(first.status, 200);
      const lastTask = randomUUID();
      assert.equal((await createVm(ws, a, lastTask)).status, 200);
      const full = await createVm(ws, a);
      assert.deepEqual([full.status, full.body.quota, full.body.used], [403, 'vms', 2]);
      // The create of lastTask is rolled back (its task failed): its unit is free again.
      const u = await inv.call('DELETE', `/${ws}/accepts/${lastTask}/`, svc);
      assert.deepEqual([u.status, u.body.undone], [200, 1]);
      assert.equal((await quotas(ws)).used.vms, 1);
      const retaken = await createVm(ws, a);
      assert.equal(retaken.status, 200, JSON.stringify(retaken.body));
      assert.equal((await createVm(ws, a)).status, 403);
      // A deleted VM gives its unit back once its record is gone (while being deleted it still holds it).
      await deleteVm(ws, first.body.vm.name as string);
      const q = await quotas(ws);
      assert.deepEqual([q.used.vms, q.used.vcpus], [1, 2]);
      assert.equal((await createVm(ws, a)).status, 200);
      assert.equal((await quotas(ws)).used.vms, 2);
    });

    void test('vCPU, memory and disk quotas count the templates; a retried accept still answers', async () => {
      const ws = await workspace();
      const a = await area();
      await setQuotas(ws, { vcpus: 5 });
      const task = randomUUID();
      const name = uniqueName('vm');
      assert.equal((await put(ws, 'vm-create', { name, area: a, template }, task)).status, 200);
      assert.equal((await createVm(ws, a)).status, 200);
      const r = await createVm(ws, a);
      assert.deepEqual(
        [r.status, r.body.field, r.body.quota, r.body.limit, r.body.used],
        [403, 'quota', 'vcpus', 5, 4],
      );
      // The first task's accept asked again (its answer lost on the way) answers what it did, quota or not.
      const again = await put(ws, 'vm-create', { name, area: a, template }, task);
      assert.equal(again.status, 200, JSON.stringify(again.body));
      await setQuotas(ws, { vcpus: null, ram: 1.2 });
      const mem = await createVm(ws, a);
      assert.deepEqual([mem.status, mem.body.quota, mem.body.limit, mem.body.used], [403, 'ram', 1.2, 1]);
      await setQuotas(ws, { ram: null, disk: 11 });
      const disk = await createVm(ws, a);
      assert.deepEqual([disk.status, disk.body.quota, disk.body.limit, disk.body.used], [403, 'disk', 11, 8]);
    });

    void test('a resize takes its growth when accepted; a shrink always passes; an undone resize gives it back', async () => {
      const ws = await workspace();
      const a = await area();
      const grown = await createVm(ws, a);
      const other = await createVm(ws, a);
      assert.equal(grown.status, 200);
      assert.equal(other.status, 200);
      const name = grown.body.vm.name as string;
      await setQuotas(ws, { vcpus: 6, ram: 1.5 });
      // 2 + 2 vCPUs used of 6: growing one VM to 4 takes the last 2, at accept (the size is written then).
      const task = randomUUID();
      const r = await put(ws, 'vm-update', { name, cpu: 4 }, task);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.vm.cpu, 2, 'the answer is the record as it was');
      assert.deepEqual((await quotas(ws)).used.vcpus, 6);
      const vm = (await inv.call('GET', `/${ws}/vms/${name}/`, svc)).body as { cpu: number };
      assert.equal(vm.cpu, 4);
      const over = await put(ws, 'vm-update', { name: other.body.vm.name as string, cpu: 3 });
      assert.deepEqual(
        [over.status, over.body.field, over.body.quota, over.body.limit, over.body.used],
        [403, 'quota', 'vcpus', 6, 6],
      );
      const ram = await put(ws, 'vm-update', { name: other.body.vm.name as string, ram: 1.5 });
      assert.deepEqual([ram.status, ram.body.quota, ram.body.limit, ram.body.used], [403, 'ram', 1.5, 1]);
      // Over a lowered limit a VM still shrinks.
      await setQuotas(ws, { vcpus: 2 });
      const shrink = await put(ws, 'vm-update', { name: other.body.vm.name as string, cpu: 1 });
      assert.equal(shrink.status, 200, JSON.stringify(shrink.body));
      // The grow is undone (its task failed before it was sent): the old size, and its share, come back.
      await setQuotas(ws, { vcpus: null });
      const u = await inv.call('DELETE', `/${ws}/accepts/${task}/`, svc);
      assert.deepEqual([u.status, u.body.undone], [200, 1]);
      assert.equal(((await inv.call('GET', `/${ws}/vms/${name}/`, svc)).body as { cpu: number }).cpu, 2);
      assert.equal((await quotas(ws)).used.vcpus, 3);
    });

    void test('network and router quotas', async () => {
      const ws = await workspace();
      await setQuotas(ws, { networks: 1, routers: 1 });
      assert.equal((await put(ws, 'network-create', { name: uniqueName('net') })).status, 200);
      const n = await put(ws, 'network-create', { name: uniqueName('net') });
      assert.deepEqual([n.status, n.body.quota, n.body.limit, n.body.used], [403, 'networks', 1, 1]);
      assert.equal((await put(ws, 'router-create', { name: uniqueName('r') })).status, 200);
      const r = await put(ws, 'router-create', { name: uniqueName('r') });
      assert.deepEqual([r.status, r.body.quota, r.body.limit, r.body.used], [403, 'routers', 1, 1]);
      const q = await quotas(ws);
      assert.deepEqual([q.used.networks, q.used.routers], [1, 1]);
    });

    void test('per-area ceilings: public addresses and VLANs one workspace may hold, above any quota', async () => {
      const ws = await workspace();
      const [a1, a2] = [await area(), await area()];
      await setQuotas(ws, { vms: 100, networks: 100 });
      for (let i = 0; i < 4; i++) assert.equal((await createVm(ws, a1)).status, 200);
      const r = await createVm(ws, a1);
      assert.deepEqual(
        [r.status, r.body.field, r.body.quota, r.body.limit, r.body.used],
        [403, 'quota', 'area_public_ips', 4, 4],
      );
      assert.equal((await createVm(ws, a2)).status, 200, 'another area has its own ceiling');
      for (let i = 0; i < 3; i++)
        assert.equal((await put(ws, 'network-create', { name: uniqueName('net') })).status, 200);
      const n = await put(ws, 'network-create', { name: uniqueName('net') });
      assert.deepEqual([n.status, n.body.quota, n.body.limit, n.body.used], [403, 'area_vlans', 3, 3]);
      const q = await quotas(ws);
      const byArea = Object.fromEntries(q.areas.map((x) => [x.area, x]));
      assert.deepEqual(byArea[a1]?.public_ips, { limit: 4, used: 4 });
      assert.deepEqual(byArea[a2]?.public_ips, { limit: 4, used: 1 });
      assert.deepEqual(byArea[a1]?.vlans, { limit: 3, used: 3 });
    });

    // Issue 16: a create is checked against counters (quota_usage, area_usage) kept by triggers, not a count of
    // the records under a workspace lock; they must stay equal to the records on every path.
    void test('the counters creates are checked against stay equal to the records on every path', async () => {
      const ws = await workspace();
      const [a1, a2] = [await area(), await area()];
      const tpl = uniqueName('tpl');
      const t = await inv.call('POST', '/templates/', admin, { name: tpl, cpu: 1, ram: 0.25, disk: 3 });
      assert.equal(t.status, 201);
      const db = inv.inventory.database.db;
      const counters = async () => {
        const r = await sql<Record<string, number>>`
          SELECT u.vms::int, u.vcpus::int, u.ram::float8, u.disk::float8, u.networks::int, u.routers::int,
            (SELECT coalesce(sum(a.vms), 0) FROM area_usage a WHERE a.workspace_id = u.workspace_id)::int
              AS public_ips
          FROM quota_usage u JOIN workspaces w ON w.id = u.workspace_id WHERE w.name = ${ws}`.execute(db);
        return r.rows[0];
      };
      const records = async () => {
        const q = await quotas(ws);
        const { vms, vcpus, ram, disk, networks, routers } = q.used;
        const public_ips = q.areas.reduce((n, x) => n + x.public_ips.used, 0);
        return { vms, vcpus, ram, disk, networks, routers, public_ips };
      };
      const same = async (why: string) => assert.deepEqual(await counters(), await records(), why);
      await same('a new workspace');
      const vm = (a: string, task = randomUUID()) =>
        put(ws, 'vm-create', { name: uniqueName('vm'), area: a, template: tpl }, task);
      const kept = await vm(a1);
      const undone = randomUUID();
      for (const r of [kept, await vm(a1), await vm(a2, undone)]) assert.equal(r.status, 200);
      const net = uniqueName('net');
      assert.equal((await put(ws, 'network-create', { name: net })).status, 200);
      assert.equal((await put(ws, 'router-create', { name: uniqueName('r') })).status, 200);
      await same('after creates');
      assert.deepEqual((await records()).vms, 3);
      const grow = randomUUID();
      assert.equal(
        (await put(ws, 'vm-update', { name: kept.body.vm.name, cpu: 3, ram: 1 }, grow)).status,
        200,
      );
      await same('after a resize');
      assert.equal((await inv.call('DELETE', `/${ws}/accepts/${grow}/`, svc)).status, 200);
      assert.equal((await inv.call('DELETE', `/${ws}/accepts/${undone}/`, svc)).status, 200);
      await same('after undos');
      await deleteVm(ws, kept.body.vm.name as string);
      assert.equal((await inv.call('DELETE', `/${ws}/networks/${net}/`, svc)).status, 200);
      await same('after deletes');
      await sql`UPDATE templates SET disk = 5 WHERE name = ${tpl}`.execute(db);
      await same('after a template grew');
      assert.deepEqual(await records(), {
        vms: 1,
        vcpus: 1,
        ram: 0.25,
        disk: 5,
        networks: 0,
        routers: 1,
        public_ips: 1,
      });
    });
  });
}
