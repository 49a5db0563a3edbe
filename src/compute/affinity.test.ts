// The anti-affinity rule on compute's own placement (a real PGlite database, compute's migrations): a group's
// VMs go to different hosts while one fits; when none does, soft placement shares a host and names who it
// joins, strict placement refuses naming the group; another workspace's group of the same name does not count;
// concurrent decisions of one group are serialized.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Database } from '../lib/db.ts';
import { isAppError } from '../lib/errors.ts';
import { createGroupLocks, groupHosts, placeApart, sharedHostWarning } from './affinity.ts';
import { insertHost, insertVm } from '../../test/support/compute-rows.ts';
import { computeMigrations } from './migrations.ts';
import { createLocalPlacement, type Placement } from './placement.ts';
import type { ComputeDB } from './schema.ts';

describe('anti-affinity placement', () => {
  let database: Database<ComputeDB>;
  let dir = '';
  let placement: Placement;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kloudak-affinity-'));
    database = await openDatabase<ComputeDB>({ dir, migrations: computeMigrations });
    placement = createLocalPlacement(database.db);
    // h1 has the most memory: placement alone would put everything there.
    for (const [name, memory] of [
      ['h1', 8],
      ['h2', 4],
      ['h3', 1],
    ] as const)
      await insertHost(database.db, name, { memory });
  });
  after(async () => {
    await database?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const vm = (workspace: string, name: string, host: string, group: string | null, memoryMib = 128) =>
    insertVm(database.db, name, host, { workspace, affinity_group: group, memory_mib: memoryMib });
  const req = { area: 'a', memoryMib: 256, vcpus: 1 };

  test('without a group, placement picks the emptiest host', async () => {
    const s = await placeApart(database.db, placement, req, { workspace: 'w', group: null });
    assert.deepEqual(s, { host: 'h1', joins: [] });
  });

  test("the group's VMs go to different hosts while one has room", async () => {
    await vm('w', 'a1', 'h1', 'web');
    const s2 = await placeApart(database.db, placement, req, { workspace: 'w', group: 'web' });
    assert.deepEqual(s2, { host: 'h2', joins: [] }, 'not h1, which runs a1');
    await vm('w', 'a2', 'h2', 'web');
    const s3 = await placeApart(database.db, placement, req, { workspace: 'w', group: 'web' });
    assert.deepEqual(s3, { host: 'h3', joins: [] }, 'h3, the only host free of the group');
    // VMs outside the group, or in a same-named group of another workspace, do not count.
    await vm('other', 'b1', 'h3', 'web');
    await vm('w', 'c1', 'h3', null);
    const s4 = await placeApart(database.db, placement, req, { workspace: 'w', group: 'web' });
    assert.equal(s4.host, 'h3');
    assert.deepEqual([...(await groupHosts(database.db, { workspace: 'w', group: 'web' })).keys()].sort(), [
      'h1',
      'h2',
    ]);
  });

  test('with no free host, soft placement shares one and names who; strict refuses naming the group', async () => {
    await vm('w', 'a3', 'h3', 'web');
    const soft = await placeApart(database.db, placement, req, { workspace: 'w', group: 'web' });
    assert.deepEqual(soft, { host: 'h1', joins: ['a1'] });
    assert.match(sharedHostWarning('web', soft), /anti-affinity group web not honoured: h1 also runs a1/);
    await assert.rejects(
      placeApart(database.db, placement, req, { workspace: 'w', group: 'web' }, { strict: true }),
      (e: unknown) =>
        isAppError(e) &&
        e.kind === 'conflict' &&
        e.field === 'affinity_group' &&
        /anti-affinity group web \(h1: a1; h2: a2; h3: a3\)/.test(e.message),
    );
  });

  test('a VM does not avoid itself, and the exclusions asked (its own host) still hold', async () => {
    // a1 moving off h1: h2 and h3 hold a2 and a3; soft placement must not go back to h1.
    const row = await database.db
      .selectFrom('vms')
      .select('id')
      .where('name', '=', 'a1')
      .executeTakeFirstOrThrow();
    const s = await placeApart(
      database.db,
      placement,
      { ...req, exclude: ['h1'] },
      { workspace: 'w', group: 'web', self: row.id },
    );
    assert.equal(s.host, 'h2');
    assert.deepEqual(s.joins, ['a2']);
  });

  test('pending moves count: two members moved at once do not pick the same free host', async () => {
    await vm('w', 'd1', 'h1', 'db');
    await vm('w', 'd2', 'h1', 'db');
    const pending = new Map<string, string[]>();
    const first = await placeApart(
      database.db,
      placement,
      { ...req, exclude: ['h1'] },
      { workspace: 'w', group: 'db' },
      { strict: true, pending },
    );
    pending.set(first.host, ['d1']);
    const second = await placeApart(
      database.db,
      placement,
      { ...req, exclude: ['h1'] },
      { workspace: 'w', group: 'db' },
      { strict: true, pending },
    );
    assert.notEqual(first.host, second.host);
    assert.ok(!['h1'].includes(second.host));
  });

  test("an error of placement itself (no room anywhere) is placement's, not the group's", async () => {
    await assert.rejects(
      placeApart(database.db, placement, { ...req, memoryMib: 64 * 1024 }, { workspace: 'w', group: 'web' }),
      (e: unknown) => isAppError(e) && e.field === 'area',
    );
  });

  test('group locks run one decision of a group at a time, other groups alongside', async () => {
    const lock = createGroupLocks();
    const order: string[] = [];
    const step = (tag: string, ms: number) => async () => {
      order.push(`${tag} in`);
      await new Promise((r) => setTimeout(r, ms));
      order.push(`${tag} out`);
      return tag;
    };
    const g = { workspace: 'w', group: 'web' };
    const failing = lock(g, async () => {
      throw new Error('boom');
    });
    const results = await Promise.all([
      lock(g, step('a', 30)),
      lock(g, step('b', 1)),
      lock({ workspace: 'w', group: 'db' }, step('c', 1)),
      failing.catch((e: Error) => e.message),
    ]);
    assert.deepEqual(results, ['a', 'b', 'c', 'boom']);
    const ai = order.indexOf('a out');
    assert.ok(order.indexOf('b in') > ai, `b waited for a: ${order.join(', ')}`);
    assert.ok(order.indexOf('c in') < ai, `c did not wait: ${order.join(', ')}`);
  });
});
