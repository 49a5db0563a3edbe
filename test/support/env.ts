// Addresses of the real middleware that scripts/test.sh starts, and unique names so runs never collide.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPgliteTemplate } from '../../src/lib/db.ts';

export const TEST_PG = process.env.KLOUDAK_TEST_PG ?? 'postgres://postgres:kloudak@127.0.0.1:5432';
export const TEST_AMQP = process.env.KLOUDAK_TEST_AMQP ?? 'amqp://guest:guest@127.0.0.1:5672';
export const TEST_REDIS = process.env.KLOUDAK_TEST_REDIS ?? 'redis://127.0.0.1:6379';
export const TEST_ZOOKEEPER = process.env.KLOUDAK_TEST_ZOOKEEPER ?? '127.0.0.1:2181';

/** A name unique to this run: prefix plus random hex, valid as a Kloudak name. */
export function uniqueName(prefix = 't'): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** A fresh PostgreSQL database URL on the test server (created on first connect by openDatabase). */
export function pgDatabaseUrl(prefix: string): string {
  return `${TEST_PG}/${uniqueName(prefix).replace(/-/g, '_')}`;
}

const pgliteVersion = (
  JSON.parse(
    readFileSync(new URL('../../node_modules/@electric-sql/pglite/package.json', import.meta.url), 'utf8'),
  ) as { version: string }
).version;

/**
 * An empty PGlite database made once per machine and PGlite version (initdb takes 5-7 s here; a test file
 * starts up to five embedded databases): services started by tests copy it (PGLITE_TEMPLATE). Services in
 * child processes (configured from the environment) get it through KLOUDAK_PGLITE_TEMPLATE.
 */
export const PGLITE_TEMPLATE = await createPgliteTemplate(
  join(tmpdir(), `kloudak-pglite-template-${pgliteVersion}`),
);
process.env.KLOUDAK_PGLITE_TEMPLATE ??= PGLITE_TEMPLATE;
