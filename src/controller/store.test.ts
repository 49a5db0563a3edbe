import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openDatabase } from '../lib/db.ts';
import { controllerMigrations } from './migrations.ts';
import type { ControllerDB } from './schema.ts';
import { createSealer } from './seal.ts';
import { agreeOnTaskKey } from './store.ts';

test('controllers of one database agree on the task key: the first recorded stands, another is refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kloudak-taskkey-'));
  const database = await openDatabase<ControllerDB>({ dir, migrations: controllerMigrations });
  try {
    const first = createSealer('the first controller key, 32+ chars');
    await agreeOnTaskKey(database.db, first.keyCheck);
    await agreeOnTaskKey(database.db, createSealer('the first controller key, 32+ chars').keyCheck);
    await assert.rejects(
      agreeOnTaskKey(database.db, createSealer('another controller key, 32+ chars').keyCheck),
      /KLOUDAK_TASK_KEY differs .* every controller of one database needs the same/,
    );
    const rows = await database.db.selectFrom('controller_settings').selectAll().execute();
    assert.deepEqual(rows, [{ name: 'task_key_check', value: first.keyCheck }]);
    assert.equal(first.keyCheck.includes('first controller key'), false);
  } finally {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
