import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, sql } from 'kysely';
import { PGliteDialect } from './pglite-dialect.ts';

interface DB {
  t: { n: number };
}

test('PGlite has one session: a transaction keeps it until it ends, so concurrent work never lands in it', async () => {
  const db = new Kysely<DB>({ dialect: new PGliteDialect(new PGlite()) });
  try {
    await sql`CREATE TABLE t (n int)`.execute(db);
    let inside!: () => void;
    const entered = new Promise<void>((resolve) => (inside = resolve));
    const failing = db.transaction().execute(async (trx) => {
      await trx.insertInto('t').values({ n: 1 }).execute();
      inside();
      // Give the concurrent insert every chance to run while this transaction is open.
      await new Promise((resolve) => setTimeout(resolve, 50));
      throw new Error('rolled back on purpose');
    });
    await entered;
    const concurrent = db.insertInto('t').values({ n: 2 }).execute();
    await assert.rejects(failing, /rolled back on purpose/);
    await concurrent;
    const rows = await db.selectFrom('t').select('n').orderBy('n').execute();
    assert.deepEqual(rows, [{ n: 2 }]);
    const updated = await db.updateTable('t').set({ n: 3 }).execute();
    assert.equal(updated[0]?.numUpdatedRows, 1n);
  } finally {
    await db.destroy();
  }
});
