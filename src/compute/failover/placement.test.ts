// Failover's relocation and anti-affinity groups (a real PGlite database, compute's own placement): a failed
// host's VM goes to an up host free of its group while one has room, and otherwise restarts anyway next to
// another member, with a warning in the log naming the group (availability first).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Database } from '../../lib/db.ts';
import { createLogger } from '../../lib/log.ts';
import { insertHost, insertVm } from '../../../test/support/compute-rows.ts';
import { computeMigrations } from '../migrations.ts';
import { createLocalPlacement } from '../placement.ts';
import type { ComputeDB } from '../schema.ts';
import { createRelocation } from './placement.ts';

describe('failover relocation keeps anti-affinity groups apart while it can', () => {
  let database: Database<ComputeDB>;
  let dir = '';
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kloudak-failover-aff-'));
    database = await openDatabase<ComputeDB>({ dir, migrations: computeMigrations });
  });
  after(async () => {
    await database?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const db = () => database.db;
  const host = (name: string, memory: number, up = true) => insertHost(db(), name, { memory, up });
  const vm = (name: string, on: string, group: string | null) =>
    insertVm(db(), name, on, { affinity_group: group });
  const hostOf = async (name: string) =>
    (await db().selectFrom('vms').select('host').where('name', '=', name).executeTakeFirstOrThrow()).host;

  function relocation() {
    const lines: string[] = [];
    const log = createLogger('test', 'silent');
    // The log's warnings are what failover records: collect their messages.
    const warn = (obj: unknown, msg?: string) => void lines.push(`${msg ?? ''} ${JSON.stringify(obj)}`);
    const r = createRelocation({
      db: db(),
      placement: createLocalPlacement(db()),
      log: Object.assign(Object.create(log) as typeof log, { warn }),
      notices: { warnOnce: () => undefined },
      movedFrom: new Map(),
    });
    return { r, lines };
  }

  test('a failed host VM restarts on the host free of its group, not the emptiest one', async () => {
    await host('h1', 2, false);
    await host('h2', 8);
    await host('h3', 2);
    await vm('a', 'h1', 'g');
    await vm('b', 'h2', 'g');
    await vm('c', 'h1', null);
    const { r, lines } = relocation();
    await r.relocateAll();
    assert.equal(await hostOf('a'), 'h3', 'h2 has more memory but runs b of the group');
    assert.equal(await hostOf('c'), 'h2', 'a VM without a group goes to the emptiest host');
    assert.ok(!lines.some((l) => /not honoured/.test(l)), lines.join('\n'));
  });

  test('with no host free of the group it restarts anyway, and the log warns', async () => {
    await db().updateTable('hosts').set({ up: false }).where('name', '=', 'h3').execute();
    const { r, lines } = relocation();
    await r.relocateAll();
    assert.equal(await hostOf('a'), 'h2');
    const w = lines.find((l) => /anti-affinity group g not honoured: h2 also runs b/.test(l));
    assert.ok(w, lines.join('\n'));
  });
});
