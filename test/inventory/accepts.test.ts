// Issue 16 "Must show": inventory's accept API (PUT /<ws>/accepts/<op>/<task>/, DELETE /<ws>/accepts/<task>/):
// checks and writes in one transaction, the same answer when asked again, an exact undo that is harmless when
// nothing was written and final afterwards, and concurrent creates in one area that all succeed with distinct
// addresses (on each backend).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { uniqueName } from '../support/env.ts';
import { BACKENDS, startInventory, type TestInventory } from '../support/inventory.ts';

for (const backend of BACKENDS) {
  void describe(`accepts (${backend})`, () => {
    let inv: TestInventory;
    let admin: string;
    let svc: string;
    let ws: string;
    let template: string;

    before(async () => {
      inv = await startInventory(backend);
      admin = await inv.adminToken();
      svc = await inv.serviceToken();
      const owner = await inv.user(uniqueName('owner'));
      ws = uniqueName('ws');
      template = uniqueName('tpl');
      assert.equal((await inv.call('POST', '/workspaces/', owner, { name: ws })).status, 201);
      assert.equal(
        (await inv.call('POST', '/templates/', admin, { name: template, cpu: 1, ram: 1, disk: 5 })).status,
        201,
      );
    });
    after(async () => inv?.close());

    const area = async (subnet: string) => {
      const name = uniqueName('area');
      assert.equal((await inv.call('POST', '/areas/', admin, { name, subnet })).status, 201);
      return name;
    };
    const put = (op: string, task: string, body: unknown, token = svc) =>
      inv.call('PUT', `/${ws}/accepts/${op}/${task}/`, token, body);
    const undo = (task: string) => inv.call('DELETE', `/${ws}/accepts/${task}/`, svc);
    const db = () => inv.inventory.database.db;
    const leases = async (a: string) =>
      (
        await db()
          .selectFrom('ip_leases')
          .innerJoin('areas', 'areas.id', 'ip_leases.area_id')
          .select(['ip_leases.ip', 'ip_leases.vm_id'])
          .where('areas.name', '=', a)
          .execute()
      ).length;
    const nextIp = async (a: string) => (await inv.call('GET', `/areas/${a}/`, admin)).body.next_ip as string;
    const vm = (name: string) => inv.call('GET', `/${ws}/vms/${name}/`, svc);
    let vlans = 100;
    /** A network as its create task leaves it: accepted, then given its VLAN by the network service. */
    const network = async (name: string, subnet: string | null = null) => {
      const r = await put('network-create', randomUUID(), { name, subnet });
      await db()
        .updateTable('networks')
        .set({ vlan: vlans++, state: 'U' })
        .where('name', '=', name)
        .execute();
      return r;
    };

    void test('a VM create: record, address and NIC addresses in one call; asked again, the same answer', async () => {
      const a = await area('10.140.0.0/29');
      const net = uniqueName('net');
      assert.equal((await network(net, '192.168.40.0/24')).status, 200);
      const plain = uniqueName('plain');
      assert.equal((await network(plain)).status, 200);
      const task = randomUUID();
      const name = uniqueName('vm');
      const body = { name, description: 'd', area: a, template, networks: [net, plain] };
      const r = await put('vm-create', task, body);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.vm.ip, '10.140.0.2');
      assert.equal(r.body.vm.state, 'C_D');
      assert.deepEqual(r.body.area, { name: a, subnet: '10.140.0.0/29', gateway: '10.140.0.1' });
      assert.equal(r.body.template.name, template);
      assert.deepEqual(
        r.body.networks.map((n: { name: string }) => n.name),
        [net, plain],
      );
      assert.deepEqual(r.body.vm.interfaces, [
        { network: net, ip: '192.168.40.2/24', mac: null },
        { network: plain, ip: null, mac: null },
      ]);
      // The record is there as the answer says.
      const stored = await vm(name);
      assert.equal(stored.body.ip, '10.140.0.2');
      assert.equal(
        stored.body.interfaces.find((i: { network: string }) => i.network === net).ip,
        '192.168.40.2/24',
      );
      // A retried call (the first answer lost on the way) answers the same and writes nothing more.
      const again = await put('vm-create', task, body);
      assert.equal(again.status, 200, JSON.stringify(again.body));
      assert.deepEqual(again.body, r.body);
      assert.equal(await leases(a), 1);
      // Another task asking for the same name is a 409 naming it.
      const dup = await put('vm-create', randomUUID(), body);
      assert.deepEqual([dup.status, dup.body.field], [409, 'name']);
    });

    void test("a VM's security groups and size: checked and written with the record; an update's written at accept, undone exactly", async () => {
      const a = await area('10.140.2.0/29');
      const unknown = await put('vm-create', randomUUID(), {
        name: uniqueName('vm'),
        area: a,
        template,
        security_groups: ['default', 'nope'],
      });
      assert.deepEqual(
        [unknown.status, unknown.body.field],
        [400, 'security_groups'],
        JSON.stringify(unknown.body),
      );
      assert.equal(await leases(a), 0, 'a refused create takes no address');
      const name = uniqueName('vm');
      const made = await put('vm-create', randomUUID(), {
        name,
        area: a,
        template,
        security_groups: ['default'],
      });
      assert.equal(made.status, 200, JSON.stringify(made.body));
      const rec = (await vm(name)).body as { security_groups: string[]; cpu: number; ram: number };
      assert.deepEqual([rec.security_groups, rec.cpu, rec.ram], [['default'], 1, 1], "the template's size");
      const bad = await put('vm-update', randomUUID(), { name, security_groups: ['nope'] });
      assert.deepEqual([bad.status, bad.body.field], [400, 'update_dict.security_groups']);
      const task = randomUUID();
      const u = await put('vm-update', task, { name, security_groups: [], cpu: 2, ram: 2 });
      assert.equal(u.status, 200, JSON.stringify(u.body));
      assert.deepEqual([u.body.vm.security_groups, u.body.vm.cpu], [['default'], 1], 'the record as it was');
      const now = (await vm(name)).body as { security_groups: string[]; cpu: number; ram: number };
      assert.deepEqual([now.security_groups, now.cpu, now.ram], [[], 2, 2]);
      assert.equal((await undo(task)).body.undone, 1);
      const back = (await vm(name)).body as { security_groups: string[]; cpu: number; ram: number };
      assert.deepEqual([back.security_groups, back.cpu, back.ram], [['default'], 1, 1]);
    });

    void test('the undo removes exactly what the task wrote, once; then the task can write nothing more', async () => {
      const a = await area('10.141.0.0/29');
      const task = randomUUID();
      const name = uniqueName('vm');
      assert.equal((await put('vm-create', task, { name, area: a, template })).status, 200);
      // Another task's VM in the same area stays.
      const other = uniqueName('vm');
      assert.equal((await put('vm-create', randomUUID(), { name: other, area: a, template })).status, 200);
      assert.equal(await leases(a), 2);
      const u = await undo(task);
      assert.deepEqual([u.status, u.body], [200, { task, undone: 1 }]);
      assert.equal((await vm(name)).status, 404);
      assert.equal((await vm(other)).status, 200, "another task's record stays");
      assert.equal(await leases(a), 1, 'the address went back with the record');
      assert.deepEqual((await undo(task)).body, { task, undone: 0 }, 'a second undo does nothing');
      const late = await put('vm-create', task, { name, area: a, template });
      assert.deepEqual([late.status, late.body.field], [409, 'task'], JSON.stringify(late.body));
      assert.equal((await vm(name)).status, 404, 'an undone task writes nothing');
    });

    void test('an undo of a task that wrote nothing is harmless, and the task cannot write after it', async () => {
      const a = await area('10.142.0.0/29');
      const task = randomUUID();
      const name = uniqueName('vm');
      // Someone else's record under the same name (as a dead controller's undo would meet).
      assert.equal((await put('vm-create', randomUUID(), { name, area: a, template })).status, 200);
      assert.deepEqual((await undo(task)).body, { task, undone: 0 });
      assert.equal((await vm(name)).status, 200, 'the record of another task stays');
      const late = await put('network-create', task, { name: uniqueName('net') });
      assert.deepEqual([late.status, late.body.field], [409, 'task']);
    });

    void test('a refused request writes nothing: 4xx naming the field, no record, no lease, next_ip unchanged', async () => {
      const a = await area('10.143.0.0/29');
      const taken = uniqueName('vm');
      assert.equal((await put('vm-create', randomUUID(), { name: taken, area: a, template })).status, 200);
      const before = await nextIp(a);
      const base = { name: uniqueName('vm'), area: a, template };
      // A network still being made has no VLAN yet: compute could not plug a NIC into it.
      const unmade = uniqueName('net');
      assert.equal((await put('network-create', randomUUID(), { name: unmade })).status, 200);
      const cases: [string, unknown, number, string][] = [
        ['vm-create', { ...base, template: 'nope' }, 400, 'template'],
        ['vm-create', { ...base, area: 'nope' }, 400, 'area'],
        ['vm-create', { ...base, networks: ['nope'] }, 400, 'networks'],
        ['vm-create', { ...base, networks: [unmade] }, 409, 'networks'],
        ['vm-create', { ...base, name: taken }, 409, 'name'],
        ['vm-create', { ...base, name: 'bad name' }, 400, 'name'],
        ['vm-delete', { name: 'ghost' }, 404, 'name'],
        ['network-create', { name: uniqueName('n'), subnet: '10.0.0.1/24' }, 400, 'subnet'],
        ['network-delete', { name: 'ghost' }, 404, 'name'],
        ['interface-create', { router: 'ghost', network: 'x', ip: '10.0.0.1' }, 404, 'router'],
      ];
      for (const [op, body, status, field] of cases) {
        const r = await put(op, randomUUID(), body);
        assert.deepEqual([r.status, r.body.field], [status, field], `${op} ${JSON.stringify(body)}`);
      }
      assert.equal(await leases(a), 1);
      assert.equal(await nextIp(a), before);
      const listed = (await inv.call('GET', `/${ws}/vms/?limit=1000`, svc)).body.vms.map(
        (v: { name: string }) => v.name,
      );
      assert.ok(!listed.includes(base.name), 'no record half-written');
      // Only services write.
      const user = await inv.user(uniqueName('u'));
      assert.equal((await put('vm-create', randomUUID(), base, user)).status, 403);
    });

    void test('deletes mark the record X and their undo puts the state back; a network in use is refused', async () => {
      const a = await area('10.144.0.0/29');
      const net = uniqueName('net');
      assert.equal((await network(net)).status, 200);
      const name = uniqueName('vm');
      assert.equal(
        (await put('vm-create', randomUUID(), { name, area: a, template, networks: [net] })).status,
        200,
      );
      const inUse = await put('network-delete', randomUUID(), { name: net });
      assert.deepEqual([inUse.status, inUse.body.field], [409, 'name']);
      assert.match(inUse.body.error, new RegExp(name));
      const del = randomUUID();
      const d = await put('vm-delete', del, { name });
      assert.equal(d.status, 200);
      assert.equal(d.body.vm.state, 'C_D', 'the answer is the record as it was');
      assert.equal((await vm(name)).body.state, 'X');
      assert.deepEqual((await undo(del)).body, { task: del, undone: 1 });
      assert.equal((await vm(name)).body.state, 'C_D');
      // A router interface on a network holds it too.
      const lone = uniqueName('net');
      assert.equal((await network(lone, '192.168.41.0/24')).status, 200);
      const router = uniqueName('r');
      assert.equal((await put('router-create', randomUUID(), { name: router })).status, 200);
      assert.equal(
        (
          await inv.call('POST', `/${ws}/routers/${router}/interfaces/`, svc, {
            network: lone,
            ip: '192.168.41.1',
          })
        ).status,
        201,
      );
      const held = await put('network-delete', randomUUID(), { name: lone });
      assert.deepEqual([held.status, held.body.field], [409, 'name']);
      const again = await put('interface-create', randomUUID(), {
        router,
        network: lone,
        ip: '192.168.41.9',
      });
      assert.deepEqual([again.status, again.body.field], [409, 'network']);
      const outside = await put('interface-create', randomUUID(), { router, network: net, ip: '10.0.0.1' });
      assert.equal(outside.status, 200, 'a network without a subnet takes any address');
      const rd = randomUUID();
      const r = await put('router-delete', rd, { name: router });
      assert.deepEqual(
        r.body.interfaces.map((i: { network: string }) => i.network),
        [lone],
      );
      assert.deepEqual((await undo(rd)).body, { task: rd, undone: 1 });
      assert.equal((await inv.call('GET', `/${ws}/routers/${router}/`, svc)).body.state, 'C');
    });

    void test('16 concurrent creates in one area all succeed, with distinct addresses and distinct NIC addresses', async () => {
      const a = await area('10.145.0.0/27'); // 29 free
      const net = uniqueName('net');
      assert.equal((await network(net, '192.168.42.0/27')).status, 200);
      const answers = await Promise.all(
        Array.from({ length: 16 }, () =>
          put('vm-create', randomUUID(), { name: uniqueName('c'), area: a, template, networks: [net] }),
        ),
      );
      assert.deepEqual(
        answers.map((r) => r.status),
        Array(16).fill(200),
        JSON.stringify(answers.find((r) => r.status !== 200)?.body),
      );
      const ips = answers.map((r) => r.body.vm.ip as string);
      assert.equal(new Set(ips).size, 16, `duplicates in ${ips.join(' ')}`);
      const nics = answers.map((r) => r.body.vm.interfaces[0].ip as string);
      assert.equal(new Set(nics).size, 16, `duplicate NIC addresses in ${nics.join(' ')}`);
      assert.ok(!nics.includes('192.168.42.1/27'), 'the first address stays for a router');
      assert.equal(await leases(a), 16);
    });

    void test('two creates cannot take one address: the last free one goes to one, the other is a 409 on area', async () => {
      const a = await area('10.146.0.0/30'); // one host address besides the gateway
      const answers = await Promise.all(
        [0, 1].map(() => put('vm-create', randomUUID(), { name: uniqueName('last'), area: a, template })),
      );
      assert.deepEqual(
        answers.map((r) => r.status).sort(),
        [200, 409],
        JSON.stringify(answers.map((r) => r.body)),
      );
      assert.equal(answers.find((r) => r.status === 409)?.body.field, 'area');
      assert.equal(await leases(a), 1);
      const names = (await inv.call('GET', `/${ws}/vms/?limit=1000`, svc)).body.vms.filter(
        (v: { area: string }) => v.area === a,
      );
      assert.equal(names.length, 1, 'the refused one left no record');
    });
  });
}
