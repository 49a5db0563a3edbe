// Secrets at rest (issue 14.10): what the services write to disk is readable by their own user only, also
// when the directory was made before by an older version with the default modes.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createMemoryBus } from '../../src/lib/bus/memory.ts';
import { openDatabase } from '../../src/lib/db.ts';
import { dataSecret } from '../../src/lib/secrets.ts';
import { createLogger } from '../../src/lib/log.ts';
import { controllerMigrations } from '../../src/controller/migrations.ts';
import { labPaths, writeRecord } from '../../src/lab/state.ts';

const log = createLogger('modes-test', 'silent');
const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);
const dirs: string[] = [];
const scratch = async () => {
  const d = await mkdtemp(join(tmpdir(), 'kloudak-modes-'));
  dirs.push(d);
  return d;
};
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

// Under the usual umask 022 a file made without a mode is 644, a directory 755.
process.umask(0o022);

void test('the bus journal: directory 700, files 600, after a restart too', async () => {
  const dir = join(await scratch(), 'bus');
  mkdirSync(dir, { mode: 0o755 }); // as an older version left it
  const bus = await createMemoryBus({ journalDir: dir, log });
  await bus.publish('q', { task_id: 't1', password: 'a guest password' });
  await bus.close();
  assert.equal(mode(dir), '700');
  const files = readdirSync(dir);
  assert.ok(files.length > 0);
  for (const f of files) assert.equal(mode(join(dir, f)), '600', f);
  const again = await createMemoryBus({ journalDir: dir, log }); // replay rewrites the files
  await again.close();
  for (const f of readdirSync(dir)) assert.equal(mode(join(dir, f)), '600', f);
});

void test('an embedded (PGlite) database directory is 700, also one made before', async () => {
  const dir = join(await scratch(), 'controller', 'db');
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const db = await openDatabase({ dir, migrations: controllerMigrations, log });
  await db.close();
  assert.equal(mode(dir), '700');
  const fresh = join(await scratch(), 'data', 'inventory', 'db');
  const db2 = await openDatabase({ dir: fresh, migrations: controllerMigrations, log });
  await db2.close();
  assert.equal(mode(fresh), '700');
  assert.equal(mode(join(fresh, '..', '..')), '700', 'a data dir it makes is 700 too');
});

void test('generated secrets (service secret, task key) are 600 in a 700 directory', async () => {
  const dir = join(await scratch(), 'controller');
  const key = dataSecret(undefined, dir, 'task-key');
  assert.ok(key.length >= 32);
  assert.equal(mode(join(dir, 'task-key')), '600');
  assert.equal(mode(dir), '700');
  assert.equal(dataSecret(undefined, dir, 'task-key'), key, 'read back, not made again');
});

void test("the lab's record is 600", async () => {
  const paths = labPaths(await scratch());
  await writeRecord(paths, { hosts: [] } as unknown as Parameters<typeof writeRecord>[1]);
  assert.equal(mode(paths.record), '600');
});
