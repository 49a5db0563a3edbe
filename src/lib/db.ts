// One typed query layer (Kysely) over real PostgreSQL or embedded PGlite; the same migrations on both.
import { chmodSync, mkdirSync } from 'node:fs';
import { Kysely, Migrator, PostgresDialect, type Migration } from 'kysely';
import pg from 'pg';
import { PGlite } from '@electric-sql/pglite';
import type { Logger } from './log.ts';
import { PGliteDialect } from './pglite-dialect.ts';

// BIGINT and NUMERIC come back as numbers: our counters and sizes stay far below 2^53.
pg.types.setTypeParser(20, (v) => Number(v));
pg.types.setTypeParser(1700, (v) => Number(v));

export interface Database<DB> {
  db: Kysely<DB>;
  backend: 'pglite' | 'postgres';
  close(): Promise<void>;
}

export interface OpenOptions {
  /** postgres:// URL; when absent, PGlite files under `dir`. */
  url?: string;
  dir: string;
  migrations: Record<string, Migration>;
  log?: Logger;
  poolSize?: number;
}

/** Creates the database of a postgres:// URL when it does not exist yet (operators give one URL per service). */
export async function ensurePostgresDatabase(url: string): Promise<void> {
  const u = new URL(url);
  const name = decodeURIComponent(u.pathname.slice(1));
  if (!name) return;
  u.pathname = '/postgres';
  const client = new pg.Client({ connectionString: u.toString(), connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    const exists = async () =>
      (await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount !== 0;
    if (await exists()) return;
    try {
      await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
    } catch (e) {
      // Instances starting together race to create it: the loser sees 42P04 (duplicate_database) or, when
      // both were inside CREATE at once, 23505 on pg_database's unique index. Either way it exists now.
      if (!(await exists())) throw e;
    }
  } finally {
    await client.end();
  }
}

export async function openDatabase<DB>(opts: OpenOptions): Promise<Database<DB>> {
  let db: Kysely<DB>;
  let backend: Database<DB>['backend'];
  if (opts.url) {
    await ensurePostgresDatabase(opts.url);
    const pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.poolSize ?? 10,
      connectionTimeoutMillis: 10_000,
      idleTimeoutMillis: 30_000,
    });
    pool.on('error', (e) => opts.log?.warn({ err: e }, 'idle PostgreSQL connection failed'));
    db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
    backend = 'postgres';
  } else {
    // The database's files are readable by the service's user only (an older data dir is tightened too).
    mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
    chmodSync(opts.dir, 0o700);
    const pglite = new PGlite(opts.dir);
    await pglite.waitReady;
    db = new Kysely<DB>({ dialect: new PGliteDialect(pglite) });
    backend = 'pglite';
  }
  try {
    await migrate(db, opts.migrations);
  } catch (e) {
    await db.destroy();
    throw e;
  }
  return { db, backend, close: () => db.destroy() };
}

async function migrate<DB>(db: Kysely<DB>, migrations: Record<string, Migration>): Promise<void> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(
      `migration ${failed?.migrationName ?? '?'} failed: ${(error as Error).message ?? String(error)}`,
    );
  }
}

/** Postgres unique_violation, for turning a lost race into a 409. */
export function isUniqueViolation(e: unknown): boolean {
  return (e as { code?: string })?.code === '23505';
}
export function isForeignKeyViolation(e: unknown): boolean {
  return (e as { code?: string })?.code === '23503';
}
