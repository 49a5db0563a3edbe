import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../lib/db.ts';
import { inventoryMigrations } from './migrations.ts';
import { createThrottle } from './ratelimit.ts';
import type { InventoryDB } from './schema.ts';

test('a throttle lets `free` attempts through, then waits longer each time, forgets after a quiet window', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kloudak-throttle-'));
  const database = await openDatabase<InventoryDB>({ dir, migrations: inventoryMigrations });
  try {
    let t = Date.parse('2026-01-01T00:00:00Z');
    const th = createThrottle(database.db, { free: 3, windowSeconds: 100, baseDelay: 10, now: () => t });
    for (let i = 0; i < 3; i++) assert.equal(await th.take('u'), 0, `free attempt ${i + 1}`);
    assert.equal(await th.take('u'), 10, 'the first wait');
    assert.equal(await th.take('u'), 10, 'a refused attempt is not counted');
    assert.equal(await th.take('other'), 0, 'other keys are not held');
    // A second throttle on the same database (another inventory instance) sees the same count.
    assert.equal(
      await createThrottle(database.db, { free: 3, windowSeconds: 100, baseDelay: 10, now: () => t }).take(
        'u',
      ),
      10,
    );
    t += 10_000;
    assert.equal(await th.take('u'), 0, 'the wait is over');
    assert.equal(await th.take('u'), 20, 'the next wait doubles');
    t += 20_000;
    assert.equal(await th.take('u'), 0);
    assert.equal(await th.take('u'), 40);
    t += 40_000;
    assert.equal(await th.take('u'), 0);
    assert.equal(await th.take('u'), 80);
    t += 80_000;
    assert.equal(await th.take('u'), 0);
    assert.equal(await th.take('u'), 100, 'never more than the window');
    t += 101_000;
    assert.equal(await th.take('u'), 0, 'quiet for a window: forgotten');
    assert.equal(await th.take('u'), 0);
    assert.equal(await th.take('u'), 0);
    assert.equal(await th.take('u'), 10);
    await th.reset('u');
    assert.equal(await th.take('u'), 0, 'a reset starts over');
    // A refund gives a ticket back: two taken, one refunded, two more come at once.
    assert.equal(await th.take('r'), 0);
    assert.equal(await th.take('r'), 0);
    await th.refund('r');
    assert.equal(await th.take('r'), 0);
    assert.equal(await th.take('r'), 0);
    assert.equal(await th.take('r'), 10);
    t += 200_000;
    await th.take('v');
    const rows = await database.db.selectFrom('login_throttle').select('key').execute();
    assert.deepEqual(rows, [{ key: 'v' }], 'keys quiet for a window are dropped');
  } finally {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a burst of 40 concurrent attempts on one key counts exactly `free` of them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kloudak-throttle-'));
  const database = await openDatabase<InventoryDB>({ dir, migrations: inventoryMigrations });
  try {
    const th = createThrottle(database.db, { free: 5, windowSeconds: 900, baseDelay: 30 });
    const waits = await Promise.all(Array.from({ length: 40 }, () => th.take('burst')));
    assert.equal(waits.filter((w) => w === 0).length, 5);
  } finally {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
