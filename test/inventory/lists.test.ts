// Issue 16 "Must show": lists answer a page of 100 by default and at most 1,000, page after page by marker
// (every item once, in order), each VM with its own NICs (one query, aggregated beside each VM).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { uniqueName } from '../support/env.ts';
import { BACKENDS, startInventory, type TestInventory } from '../support/inventory.ts';

const VMS = 1050;

for (const backend of BACKENDS) {
  void describe(`lists (${backend})`, () => {
    let inv: TestInventory;
    let token: string;
    let ws: string;

    before(async () => {
      inv = await startInventory(backend);
      const admin = await inv.adminToken();
      const user = uniqueName('u');
      await inv.user(user);
      ws = uniqueName('ws');
      await inv.call('POST', '/workspaces/', await inv.login(user), { name: ws });
      token = await inv.login(user);
      await inv.call('POST', '/areas/', admin, { name: 'list-area', subnet: '10.160.0.0/16' });
      await inv.call('POST', '/templates/', admin, { name: 'list-tpl', cpu: 1, ram: 1, disk: 1 });
      // Written straight into the tables: what is measured is the reading.
      const db = inv.inventory.database.db;
      const w = await db
        .selectFrom('workspaces')
        .select('id')
        .where('name', '=', ws)
        .executeTakeFirstOrThrow();
      const area = await db
        .selectFrom('areas')
        .select('id')
        .where('name', '=', 'list-area')
        .executeTakeFirstOrThrow();
      const tpl = await db
        .selectFrom('templates')
        .select('id')
        .where('name', '=', 'list-tpl')
        .executeTakeFirstOrThrow();
      const nets = await db
        .insertInto('networks')
        .values(
          ['net-a', 'net-b'].map((name, i) => ({
            workspace_id: w.id,
            name,
            description: '',
            state: 'U' as const,
            vlan: 10 + i,
            subnet: null,
          })),
        )
        .returning('id')
        .execute();
      const vms = await db
        .insertInto('vms')
        .values(
          Array.from({ length: VMS }, (_, i) => ({
            workspace_id: w.id,
            name: `vm-${String(i).padStart(4, '0')}`,
            description: '',
            ip: `10.160.${i >> 8}.${i & 255}`,
            state: 'U' as const,
            area_id: area.id,
            template_id: tpl.id,
            cpu: 1,
            ram: 1,
            host: null,
          })),
        )
        .returning('id')
        .execute();
      // VM i: on net-a when i is even, on net-b when i is divisible by 3 (so some have both, some none).
      const links = vms.flatMap((v, i) => [
        ...(i % 2 === 0
          ? [
              {
                vm_id: v.id,
                network_id: nets[0].id,
                ip: null,
                mac: `52:54:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
              },
            ]
          : []),
        ...(i % 3 === 0
          ? [{ vm_id: v.id, network_id: nets[1].id, ip: `192.168.0.${i % 250}/24`, mac: null }]
          : []),
      ]);
      await db.insertInto('vm_networks').values(links).execute();
    });
    after(async () => inv?.close());

    const list = (query = '') => inv.call('GET', `/${ws}/vms/${query}`, token);

    void test('a page is 100 by default, at most 1,000', async () => {
      assert.equal((await list()).body.vms.length, 100);
      assert.equal((await list('?limit=7')).body.vms.length, 7);
      assert.equal((await list('?limit=5000')).body.vms.length, 1000);
      const bad = await list('?limit=-1');
      assert.deepEqual([bad.status, bad.body.field], [400, 'limit']);
    });

    void test('page after page by marker: every VM once, in name order, each with its own NICs', async () => {
      const seen: {
        name: string;
        networks: string[];
        interfaces: { network: string; ip: string | null; mac: string | null }[];
      }[] = [];
      for (;;) {
        const marker = seen.length ? `?marker=${seen[seen.length - 1].name}` : '';
        const page = (await list(marker)).body.vms;
        seen.push(...page);
        if (page.length < 100) break;
      }
      assert.equal(seen.length, VMS);
      assert.deepEqual(
        seen.map((v) => v.name),
        Array.from({ length: VMS }, (_, i) => `vm-${String(i).padStart(4, '0')}`),
      );
      for (const [i, v] of seen.entries()) {
        const want = [...(i % 2 === 0 ? ['net-a'] : []), ...(i % 3 === 0 ? ['net-b'] : [])];
        assert.deepEqual(v.networks, want, v.name);
        assert.deepEqual(
          v.interfaces.map((n) => n.network),
          want,
        );
        if (i % 3 === 0)
          assert.equal(v.interfaces.find((n) => n.network === 'net-b')?.ip, `192.168.0.${i % 250}/24`);
        if (i % 2 === 0) assert.match(v.interfaces[0].mac ?? '', /^52:54:00:/);
      }
    });

    void test('networks and the catalogue page the same way', async () => {
      const nets = await inv.call('GET', `/${ws}/networks/?limit=1`, token);
      assert.deepEqual(
        nets.body.networks.map((n: { name: string }) => n.name),
        ['net-a'],
      );
      const next = await inv.call('GET', `/${ws}/networks/?limit=1&marker=net-a`, token);
      assert.deepEqual(
        next.body.networks.map((n: { name: string }) => n.name),
        ['net-b'],
      );
    });
  });
}
