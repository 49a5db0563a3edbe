import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Migration } from 'kysely';
import { openDatabase } from './db.ts';
import { PGLITE_TEMPLATE } from '../../test/support/env.ts';

interface DB {
  t: { n: number };
}
const migrations: Record<string, Migration> = {
  '001': { up: async (db) => void (await sql`CREATE TABLE t (n int)`.execute(db)) },
};

test('PGLITE_TEMPLATE: each new database is its own copy, migrated; a directory without a cluster is refused', async () => {
  const root = mkdtempSync(join(tmpdir(), 'kloudak-dbt-'));
  try {
    const a = await openDatabase<DB>({ dir: join(root, 'a'), template: PGLITE_TEMPLATE, migrations });
    await a.db.insertInto('t').values({ n: 1 }).execute();
    await a.close();
    const b = await openDatabase<DB>({ dir: join(root, 'b'), template: PGLITE_TEMPLATE, migrations });
    assert.deepEqual(await b.db.selectFrom('t').selectAll().execute(), [], "b starts empty: a's row is a's");
    await b.close();
    // An existing database is opened as it is, never copied over.
    const again = await openDatabase<DB>({ dir: join(root, 'a'), template: PGLITE_TEMPLATE, migrations });
    assert.deepEqual(await again.db.selectFrom('t').selectAll().execute(), [{ n: 1 }]);
    await again.close();
    assert.ok(existsSync(join(PGLITE_TEMPLATE, 'PG_VERSION')));
    await assert.rejects(
      openDatabase<DB>({ dir: join(root, 'c'), template: root, migrations }),
      /PGLITE_TEMPLATE .*not a PGlite database directory/,
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
