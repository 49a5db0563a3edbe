// One typed query layer (Kysely) over real PostgreSQL or embedded PGlite; the same migrations on both.
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
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
  /** PGlite: a new database is copied from this empty, initialized one (PGLITE_TEMPLATE) instead of initdb. */
  template?: string;
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
    // initdb is most of a new embedded database's start (5-7 s on a busy machine); copying an empty cluster
    // made by the same PGlite takes well under one. Migrations run on the copy as on a new database.
    if (opts.template && !existsSync(join(opts.dir, 'PG_VERSION'))) {
      if (!existsSync(join(opts.template, 'PG_VERSION')))
        throw new Error(`PGLITE_TEMPLATE ${opts.template}: not a PGlite database directory (no PG_VERSION)`);
      cpSync(opts.template, opts.dir, { recursive: true });
    }
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

/**
 * Makes an empty, initialized PGlite database at `dir` (for PGLITE_TEMPLATE), unless one is there. Made beside
 * it and renamed into place, so processes making the same one at once never see half of it.
 */
export async function createPgliteTemplate(dir: string): Promise<string> {
  if (existsSync(join(dir, 'PG_VERSION'))) return dir;
  mkdirSync(dirname(dir), { recursive: true });
  const work = mkdtempSync(`${dir}.tmp-`);
  try {
    const pglite = new PGlite(work);
    await pglite.waitReady;
    await pglite.close();
    try {
      renameSync(work, dir);
    } catch (e) {
      // Another process put its own there first: that one serves as well.
      if (!existsSync(join(dir, 'PG_VERSION'))) throw e;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return dir;
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
