// Addresses of the real middleware that scripts/test.sh starts, and unique names so runs never collide.
import { randomBytes } from 'node:crypto';

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
