import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../lib/db.ts';
import { conflict, unavailable } from '../lib/errors.ts';
import { insertHost, insertVm } from '../../test/support/compute-rows.ts';
import { computeMigrations } from './migrations.ts';
import { createLocalPlacement, withCatalogueRetry, type Placement } from './placement.ts';
import type { ComputeDB } from './schema.ts';

test('no host or pool in the records: the catalogue is read again and the choice made once more', async () => {
  let known: string[] = [];
  let refreshes = 0;
  const inner: Placement = {
    host: async () => known[0] ?? Promise.reject(conflict('area', 'no host in area lab has room')),
    pool: async () => Promise.reject(conflict('area', 'no pool in area lab has room')),
    room: async () => Promise.reject(unavailable('not asked')),
  };
  const p = withCatalogueRetry(inner, async () => {
    refreshes++;
    known = ['kl-h1']; // registered since the last sync
  });
  assert.equal(await p.host({ area: 'lab', memoryMib: 96, vcpus: 1 }), 'kl-h1');
  assert.equal(refreshes, 1);
  // Still nothing after the refresh: the conflict stands, read once more only.
  await assert.rejects(p.pool({ area: 'lab', sizeGib: 1 }), /no pool in area lab/);
  assert.equal(refreshes, 2);
  // Other failures are not a missing record: no refresh, the error as it is.
  await assert.rejects(
    p.room({
      area: 'lab',
      host: 'kl-h1',
      memoryMib: 1,
      vcpus: 1,
      held: { memoryMib: 1, vcpus: 1, running: false },
    }),
    /not asked/,
  );
  assert.equal(refreshes, 2);
});

test('local placement: concurrent creates spread over the area, a claim ends when its row is written', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kloudak-placement-'));
  const database = await openDatabase<ComputeDB>({ dir, migrations: computeMigrations });
  try {
    const db = database.db;
    await insertHost(db, 'h1', { memory: 1 }); // 1024 MiB each
    await insertHost(db, 'h2', { memory: 1 });
    let clock = 0;
    const p = createLocalPlacement(db, () => clock);
    const ask = (domain: string) => p.host({ area: 'a', memoryMib: 400, vcpus: 1, domain });
    // Four at once: without the claims all four would see two empty hosts and pick h1.
    const chosen = await Promise.all(['d1', 'd2', 'd3', 'd4'].map(ask));
    assert.deepEqual(
      chosen.map((h) => chosen.filter((x) => x === h).length),
      [2, 2, 2, 2],
      `two on each host: ${chosen.join(' ')}`,
    );
    // Both hosts hold 800 of 1024 MiB: a fifth does not fit.
    await assert.rejects(ask('d5'), /no host in area a has 400 MiB/);
    // Asking again for the same domain (a redelivered create) replaces its own claim.
    assert.ok(['h1', 'h2'].includes(await ask('d4')));
    // d1's row is written where it was placed: its claim ends and the row counts instead (still full).
    await insertVm(db, 'v1', chosen[0], { domain: 'd1', memory_mib: 400 });
    await assert.rejects(ask('d5'), /no host in area a/);
    // Claims whose row never came (a create that died) lapse after a minute.
    clock += 61_000;
    assert.equal(await ask('d5'), chosen[0] === 'h1' ? 'h2' : 'h1');
  } finally {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
