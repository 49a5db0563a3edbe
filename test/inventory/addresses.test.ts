// The area address allocator (GET /address/<area>/get_ip/): each address once, even under concurrency; never
// network, gateway or broadcast; 409 when the subnet is exhausted; addresses come back with their VM or when
// released.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIp, parseSubnet } from '../../src/lib/ipv4.ts';
import { uniqueName } from '../support/env.ts';
import { BACKENDS, startInventory, type TestInventory } from '../support/inventory.ts';

for (const backend of BACKENDS) {
  void describe(`addresses (${backend})`, () => {
    let inv: TestInventory;
    let admin: string;
    let service: string;
    let ws: string;
    let template: string;

    before(async () => {
      inv = await startInventory(backend);
      admin = await inv.adminToken();
      service = await inv.serviceToken();
      const owner = await inv.user(uniqueName('owner'));
      ws = uniqueName('ws');
      template = uniqueName('tpl');
      assert.equal((await inv.call('POST', '/workspaces/', owner, { name: ws })).status, 201);
      assert.equal(
        (await inv.call('POST', '/templates/', admin, { name: template, cpu: 1, ram: 1, disk: 5 })).status,
        201,
      );
    });
    after(async () => {
      await inv?.close();
    });

    const area = async (subnet: string, extra: Record<string, string> = {}) => {
      const name = uniqueName('area');
      const r = await inv.call('POST', '/areas/', admin, { name, subnet, ...extra });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return name;
    };
    const getIp = (a: string, token = service) => inv.call('GET', `/address/${a}/get_ip/`, token);
    const drain = async (a: string) => {
      const got: string[] = [];
      for (;;) {
        const r = await getIp(a);
        if (r.status !== 200) {
          assert.equal(r.status, 409, JSON.stringify(r.body));
          assert.equal(r.body.field, 'area');
          return got;
        }
        got.push(r.body.ip);
        assert.ok(got.length <= 256, 'the allocator never stops');
      }
    };
    const vm = (a: string, ip?: string, name = uniqueName('vm')) =>
      inv.call('POST', `/${ws}/vms/`, service, { name, area: a, template, ...(ip ? { ip } : {}) });
    const leases = async (a: string) =>
      inv.inventory.database.db
        .selectFrom('ip_leases')
        .innerJoin('areas', 'areas.id', 'ip_leases.area_id')
        .select(['ip_leases.ip', 'ip_leases.vm_id'])
        .where('areas.name', '=', a)
        .execute();

    void test('50 concurrent get_ip calls on one area give 50 distinct host addresses', async () => {
      const a = await area('10.50.0.0/24');
      const answers = await Promise.all(Array.from({ length: 50 }, () => getIp(a)));
      assert.deepEqual(
        answers.map((r) => r.status),
        Array(50).fill(200),
      );
      const ips = answers.map((r) => r.body.ip as string);
      assert.equal(new Set(ips).size, 50, `duplicates in ${ips.join(' ')}`);
      const s = parseSubnet('10.50.0.0/24')!;
      for (const ip of ips) {
        const n = parseIp(ip);
        assert.ok(n !== undefined && n >= s.first && n <= s.last, `${ip} is a host address`);
        assert.notEqual(ip, '10.50.0.1', 'the gateway is never handed out');
      }
      assert.equal((await leases(a)).length, 50);
    });

    void test('concurrent calls on a nearly full area: every free address once, then 409', async () => {
      const a = await area('10.51.0.0/27'); // 30 hosts, less the gateway
      const answers = await Promise.all(Array.from({ length: 40 }, () => getIp(a)));
      const ok = answers.filter((r) => r.status === 200).map((r) => r.body.ip as string);
      const refused = answers.filter((r) => r.status !== 200);
      assert.equal(ok.length, 29);
      assert.equal(new Set(ok).size, 29);
      assert.equal(refused.length, 11);
      for (const r of refused) assert.deepEqual([r.status, r.body.field], [409, 'area']);
    });

    void test('network, gateway and broadcast are never handed out; an exhausted subnet answers 409', async () => {
      const a = await area('10.52.0.0/29');
      assert.deepEqual((await drain(a)).sort(), [
        '10.52.0.2',
        '10.52.0.3',
        '10.52.0.4',
        '10.52.0.5',
        '10.52.0.6',
      ]);
      const mid = await area('10.52.0.8/29', { gateway: '10.52.0.12' });
      assert.deepEqual((await drain(mid)).sort(), [
        '10.52.0.10',
        '10.52.0.11',
        '10.52.0.13',
        '10.52.0.14',
        '10.52.0.9',
      ]);
      const tiny = await area('10.52.0.16/30');
      assert.deepEqual(await drain(tiny), ['10.52.0.18']);
      const again = await getIp(tiny);
      assert.equal(again.status, 409);
      assert.equal(typeof again.body.error, 'string');
    });

    void test("a VM's address goes back to the area when its record is deleted", async () => {
      const a = await area('10.53.0.0/29');
      const ips = await drain(a);
      const name = uniqueName('vm');
      const created = await vm(a, ips[2], name);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.ip, ips[2]);
      assert.equal((await getIp(a)).status, 409);
      assert.equal((await inv.call('DELETE', `/${ws}/vms/${name}/`, service)).status, 200);
      const back = await getIp(a);
      assert.equal(back.status, 200);
      assert.equal(back.body.ip, ips[2]);
    });

    void test('an address given to a VM without get_ip is leased too, and never handed out again', async () => {
      const a = await area('10.54.0.0/29');
      assert.equal((await vm(a, '10.54.0.4')).status, 201);
      const rest = await drain(a);
      assert.deepEqual(rest.sort(), ['10.54.0.2', '10.54.0.3', '10.54.0.5', '10.54.0.6']);
      const taken = await vm(a, '10.54.0.4');
      assert.equal(taken.status, 409);
      assert.equal(taken.body.field, 'ip');
    });

    void test('DELETE /address/<area>/<ip>/ releases an unattached lease only', async () => {
      const a = await area('10.55.0.0/29');
      const ips = await drain(a);
      const held = uniqueName('vm');
      assert.equal((await vm(a, ips[0], held)).status, 201);
      const released = await inv.call('DELETE', `/address/${a}/${ips[1]}/`, service);
      assert.equal(released.status, 200);
      assert.deepEqual(released.body, { released: true });
      const attached = await inv.call('DELETE', `/address/${a}/${ips[0]}/`, admin);
      assert.deepEqual([attached.status, attached.body], [200, { released: false }]);
      const again = await getIp(a);
      assert.equal(again.body.ip, ips[1], 'the released address, not the attached one');
      assert.equal((await getIp(a)).status, 409);
      assert.deepEqual((await inv.call('DELETE', `/address/${a}/10.55.0.7/`, service)).body, {
        released: false,
      });
      const bad = await inv.call('DELETE', `/address/${a}/10.55.0.999/`, service);
      assert.deepEqual([bad.status, bad.body.field], [400, 'ip']);
      const noArea = await inv.call('DELETE', `/address/${uniqueName('nowhere')}/10.55.0.2/`, service);
      assert.deepEqual([noArea.status, noArea.body.field], [404, 'area']);
      assert.equal((await leases(a)).find((l) => l.vm_id !== null)?.ip, parseIp(ips[0] ?? ''));
    });

    void test('get_ip for a task answers the same address again; releasing by task frees only unattached ones', async () => {
      const a = await area('10.59.0.0/29');
      const [t1, t2] = [uniqueName('task'), uniqueName('task')];
      const first = (await inv.call('GET', `/address/${a}/get_ip/?task=${t1}`, service)).body.ip;
      assert.equal((await inv.call('GET', `/address/${a}/get_ip/?task=${t1}`, service)).body.ip, first);
      const second = (await inv.call('GET', `/address/${a}/get_ip/?task=${t2}`, service)).body.ip;
      assert.notEqual(second, first);
      assert.equal((await vm(a, second)).status, 201);
      assert.deepEqual((await inv.call('DELETE', `/address/${a}/task/${t1}/`, service)).body, {
        released: 1,
      });
      assert.deepEqual(
        (await inv.call('DELETE', `/address/${a}/task/${t2}/`, service)).body,
        { released: 0 },
        'a VM holds it',
      );
      assert.equal((await leases(a)).length, 1);
      const bad = await inv.call('GET', `/address/${a}/get_ip/?task=${encodeURIComponent('x y')}`, service);
      assert.deepEqual([bad.status, bad.body.field], [400, 'task']);
    });

    void test('get_ip on an unknown area is 404 naming the area', async () => {
      const r = await getIp(uniqueName('nowhere'));
      assert.equal(r.status, 404);
      assert.equal(r.body.field, 'area');
    });

    void test('a VM address must be a host address of its area; a refused VM leaves no record and no lease', async () => {
      const a = await area('10.56.0.0/29');
      for (const ip of ['10.56.0.0', '10.56.0.1', '10.56.0.7', '10.57.0.3', '10.56.0.256', 'ten']) {
        const name = uniqueName('vm');
        const r = await vm(a, ip, name);
        assert.equal(r.status, 400, `${ip}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.field, 'ip', ip);
        assert.equal(
          (await inv.call('GET', `/${ws}/vms/${name}/`, service)).status,
          404,
          `${ip}: no VM left`,
        );
      }
      const noNet = uniqueName('vm');
      const r = await inv.call('POST', `/${ws}/vms/`, service, {
        name: noNet,
        area: a,
        template,
        ip: '10.56.0.3',
        networks: [uniqueName('nonet')],
      });
      assert.deepEqual([r.status, r.body.field], [400, 'networks']);
      assert.equal((await inv.call('GET', `/${ws}/vms/${noNet}/`, service)).status, 404);
      assert.deepEqual(await leases(a), [], 'no lease half-written');
    });

    void test('concurrent VMs asking for the same address: one wins, the others get 409 naming ip', async () => {
      const a = await area('10.58.0.0/29');
      const names = Array.from({ length: 8 }, () => uniqueName('race'));
      const answers = await Promise.all(names.map((n) => vm(a, '10.58.0.5', n)));
      assert.equal(
        answers.filter((r) => r.status === 201).length,
        1,
        JSON.stringify(answers.map((r) => [r.status, r.body])),
      );
      for (const r of answers.filter((x) => x.status !== 201))
        assert.deepEqual([r.status, r.body.field], [409, 'ip'], JSON.stringify(r.body));
      const listed = (await inv.call('GET', `/${ws}/vms/`, service)).body.vms.filter((v: { name: string }) =>
        names.includes(v.name),
      );
      assert.equal(listed.length, 1, 'only the winner has a record');
      assert.equal((await leases(a)).length, 1);
    });

    void test("an area's gateway cannot move onto a leased address", async () => {
      const a = await area('10.60.0.0/29');
      const { ip } = (await getIp(a)).body as { ip: string };
      assert.equal((await vm(a, ip)).status, 201);
      const r = await inv.call('PUT', `/areas/${a}/`, admin, {
        name: a,
        subnet: '10.60.0.0/29',
        gateway: ip,
      });
      assert.deepEqual([r.status, r.body.field], [409, 'gateway'], JSON.stringify(r.body));
      assert.equal((await inv.call('GET', `/areas/${a}/`, admin)).body.gateway, '10.60.0.1');
      const moved = await inv.call('PUT', `/areas/${a}/`, admin, {
        name: a,
        subnet: '10.60.0.0/29',
        gateway: '10.60.0.6',
      });
      assert.equal(moved.status, 200, 'a free address may become the gateway');
      assert.ok(!(await drain(a)).includes('10.60.0.6'));
    });

    void test("an area's subnet cannot change while addresses are leased", async () => {
      const a = await area('10.59.0.0/29');
      assert.equal((await getIp(a)).status, 200);
      const r = await inv.call('PUT', `/areas/${a}/`, admin, { name: a, subnet: '10.59.1.0/29' });
      assert.deepEqual([r.status, r.body.field], [409, 'subnet']);
      assert.equal((await inv.call('GET', `/areas/${a}/`, admin)).body.subnet, '10.59.0.0/29');
    });
  });
}
