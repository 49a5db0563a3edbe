// Instances of one service start together in a real deployment (systemd brings them all up at boot): each
// must open the service's database even when none of them has created it yet.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { sql, type Kysely } from 'kysely';
import { openDatabase } from '../../src/lib/db.ts';
import { pgDatabaseUrl, TEST_PG } from '../support/env.ts';

interface Db {
  things: { id: number };
}

const migrations = {
  '001': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('things')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .execute();
    },
  },
};

test('four instances opening a database that does not exist yet all start, and migrate it once', async () => {
  const url = pgDatabaseUrl('kt_race');
  const opened = await Promise.allSettled(
    Array.from({ length: 4 }, () => openDatabase<Db>({ url, dir: '', migrations })),
  );
  const errors = opened.flatMap((o) => (o.status === 'rejected' ? [String(o.reason)] : []));
  const databases = opened.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
  try {
    assert.deepEqual(errors, []);
    const applied = await sql<{ name: string }>`SELECT name FROM kysely_migration`.execute(databases[0].db);
    assert.deepEqual(
      applied.rows.map((r) => r.name),
      ['001'],
    );
  } finally {
    for (const d of databases) await d.close();
    const admin = new pg.Client({ connectionString: `${TEST_PG}/postgres` });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS "${new URL(url).pathname.slice(1)}"`);
    await admin.end();
  }
});
