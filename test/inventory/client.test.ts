// The typed inventory client and the shared catalogue cache against a real inventory: lists are read whole,
// page after page (a small page size makes five hosts three pages), answers are checked against the
// contract, and compute's copy of the catalogue keeps every host past the first page and removes only what
// inventory no longer lists.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createCatalogue } from '../../src/lib/catalogue.ts';
import { createInventoryClient } from '../../src/lib/clients/inventory.ts';
import { openDatabase } from '../../src/lib/db.ts';
import { createComputeCatalogue } from '../../src/compute/catalogue.ts';
import { computeMigrations } from '../../src/compute/migrations.ts';
import type { ComputeDB } from '../../src/compute/schema.ts';
import { uniqueName } from '../support/env.ts';
import { startInventory, type TestInventory } from '../support/inventory.ts';

describe('inventory client and catalogue cache', () => {
  let inv: TestInventory;
  const area = uniqueName('area');
  const hosts = [1, 2, 3, 4, 5].map((i) => `${area}-h${i}`);
  before(async () => {
    inv = await startInventory('pglite');
    const admin = await inv.adminToken();
    assert.equal(
      (await inv.call('POST', '/areas/', admin, { name: area, subnet: '10.91.0.0/24' })).status,
      201,
    );
    for (const name of hosts) {
      const r = await inv.call('POST', '/hosts/', admin, {
        name,
        address: '10.91.0.9',
        libvirt_uri: 'qemu+ssh://root@10.0.0.11/system',
        area,
        cpus: 2,
        memory: 4,
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
  });
  after(async () => inv?.close());

  const client = (pageSize: number) =>
    createInventoryClient({ url: inv.url, token: () => inv.serviceToken('compute'), pageSize });

  test('a list is every page, in order, typed by the contract', async () => {
    const listed = await client(2).hosts.list();
    assert.deepEqual(
      listed.map((h) => h.name),
      hosts,
    );
    assert.equal(listed[4].memory, 4);
    assert.equal((await client(2).hosts.get(hosts[4]))?.area, area);
    assert.equal(await client(2).hosts.get('nobody-here'), undefined, '404 is undefined');
  });

  test('the cache reads every page, and again at once for a name it does not know', async () => {
    const cat = createCatalogue(client(2), 60_000);
    assert.equal((await cat.hosts.all()).length, hosts.length);
    const late = `${area}-h6`;
    const admin = await inv.adminToken();
    await inv.call('POST', '/hosts/', admin, {
      name: late,
      address: '10.91.0.9',
      libvirt_uri: 'qemu+ssh://root@10.0.0.11/system',
      area,
      cpus: 2,
      memory: 4,
    });
    assert.equal((await cat.hosts.all()).length, hosts.length, 'fresh enough: not read again');
    assert.equal((await cat.hosts.get(late))?.name, late, 'an unknown name is looked for again');
    assert.equal((await cat.hosts.all()).length, hosts.length + 1);
    assert.equal((await inv.call('DELETE', `/hosts/${late}/`, admin)).status, 200);
  });

  test("compute's copy keeps hosts past the first page, and its own up flag, and drops only what is gone", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kloudak-compute-cat-'));
    const database = await openDatabase<ComputeDB>({ dir, migrations: computeMigrations });
    try {
      const copy = createComputeCatalogue(database.db, createCatalogue(client(2)));
      await copy.refresh();
      const names = async () =>
        (await database.db.selectFrom('hosts').select('name').orderBy('name').execute()).map((h) => h.name);
      assert.deepEqual(await names(), hosts);
      await database.db.updateTable('hosts').set({ up: false }).where('name', '=', hosts[4]).execute();
      const admin = await inv.adminToken();
      assert.equal((await inv.call('DELETE', `/hosts/${hosts[0]}/`, admin)).status, 200);
      await copy.refresh();
      assert.deepEqual(await names(), hosts.slice(1), 'only the deleted host went');
      assert.equal((await copy.host(hosts[4]))?.up, false, 'a refresh keeps what only compute knows');
    } finally {
      await database.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
