// A host_failure holds failover's passes back until the failed host is fenced (a real PGlite database and
// compute's own relocation; the fencer, restarter and catalogue are scripted): a pass that starts VMs during the
// fence would race their old copies for the disks (seen in the lab: both starts refused, 3 s lost to a retry).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Delivery } from '../../lib/bus/bus.ts';
import type { HostEvent } from '../../lib/contracts/messages.ts';
import { openDatabase, type Database } from '../../lib/db.ts';
import { createLogger } from '../../lib/log.ts';
import type { ComputeContext } from '../context.ts';
import { computeMigrations } from '../migrations.ts';
import { createLocalPlacement } from '../placement.ts';
import type { ComputeDB } from '../schema.ts';
import type { VmRow } from '../vms.ts';
import { insertHost, insertVm } from '../../../test/support/compute-rows.ts';
import { hostEventHandlers } from './hosts.ts';
import { createRelocation } from './placement.ts';

let database: Database<ComputeDB>;
let dir = '';
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kloudak-failover-hosts-'));
  database = await openDatabase<ComputeDB>({ dir, migrations: computeMigrations });
  for (const name of ['h1', 'h2']) await insertHost(database.db, name);
  await insertVm(database.db, 'v', 'h1', { task_id: 't-1', domain: 'kloudak-t-1' });
});
after(async () => {
  await database?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a host failure holds every pass until the host is fenced, then runs one', async () => {
  const db = database.db;
  const log = createLogger('test', 'silent');
  const events: string[] = [];
  const fencing = new Set<Promise<void>>();
  let fenceCalled!: () => void;
  const fenceStarted = new Promise<void>((r) => (fenceCalled = r));
  let fenceDone!: () => void;
  const handlers = hostEventHandlers({
    db,
    bus: {} as ComputeContext['bus'],
    catalogue: {
      refresh: async () => undefined,
      host: async (name: string) => (name === 'h1' ? { name, address: '10.0.0.1', area: 'a' } : undefined),
    } as unknown as ComputeContext['catalogue'],
    hypervisor: {} as ComputeContext['hypervisor'],
    log,
    fencer: {
      fence(host, domains) {
        events.push(`fence ${host.name} ${domains.join(' ')}`);
        fenceCalled();
        return new Promise<void>((done) => (fenceDone = done));
      },
    },
    relocation: createRelocation({
      db,
      placement: createLocalPlacement(db),
      log,
      notices: { warnOnce: () => undefined },
      movedFrom: new Map(),
    }),
    restarter: {
      restarting: () => db.selectFrom('vms').selectAll().where('state', '=', 'restarting').execute(),
      prepare: async (vm: VmRow) => void events.push(`define ${vm.domain} on ${vm.host}`),
    },
    fencing,
    tick: async () => void events.push(`pass (${fencing.size} failures still fencing)`),
  });

  const handled = handlers.onFailure({
    body: { host: 'h1', area: 'a', at: new Date().toISOString() },
  } as Delivery<HostEvent>);
  await fenceStarted;
  assert.equal(fencing.size, 1, 'a pass waits for this fence');
  let released = false;
  const pass = Promise.all(fencing).then(() => (released = true));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(released, false, 'no pass before the fence ends');

  fenceDone();
  await handled;
  await pass;
  assert.equal(fencing.size, 0);
  const vm = await db.selectFrom('vms').select(['host', 'state']).executeTakeFirstOrThrow();
  assert.deepEqual(vm, { host: 'h2', state: 'restarting' });
  assert.deepEqual(events, [
    'fence h1 kloudak-t-1',
    'define kloudak-t-1 on h2',
    'pass (0 failures still fencing)',
  ]);
});
