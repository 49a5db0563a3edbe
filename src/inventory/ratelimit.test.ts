import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../lib/db.ts';
import { inventoryMigrations } from './migrations.ts';
import { createThrottle } from './ratelimit.ts';
import type { InventoryDB } from './schema.ts';

test('throttle blocks after the limit, frees after the window, and forgets on reset', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kloudak-throttle-'));
  const database = await openDatabase<InventoryDB>({ dir, migrations: inventoryMigrations });
  try {
    let t = Date.parse('2026-01-01T00:00:00Z');
    const th = createThrottle(database.db, 3, 10, () => t);
    for (let i = 0; i < 3; i++) {
      assert.equal(await th.retryAfter('u'), 0);
      await th.fail('u');
      t += 1000;
    }
    assert.equal(await th.retryAfter('u'), 7, 'the oldest failure leaves the window in 7 s');
    assert.equal(await th.retryAfter('other'), 0);
    // A second throttle on the same database (another inventory instance) sees the same failures.
    assert.equal(await createThrottle(database.db, 3, 10, () => t).retryAfter('u'), 7);
    t += 7000;
    assert.equal(await th.retryAfter('u'), 0);
    await th.fail('u');
    await th.reset('u');
    assert.equal(await th.retryAfter('u'), 0);
    t += 60_000;
    await th.fail('v');
    const rows = await database.db.selectFrom('login_failures').select('key').execute();
    assert.deepEqual(rows, [{ key: 'v' }], 'failures out of the window are dropped');
  } finally {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
