// migrateVm's guarantees with a scripted hypervisor (a test double; the lab run is test/system/migrate.test.ts):
// the switch-over stays held (1 ms downtime, 1 MiB/s) until the network service answered for the destination's
// ports and the copy has started (libvirt sets the migration's own bandwidth when it starts it),
// a migration that does not end in time is aborted and leaves the VM where it ran, and the record follows.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Database } from '../lib/db.ts';
import { createLogger } from '../lib/log.ts';
import type { VmMigrateTask } from '../lib/contracts/messages.ts';
import type { ComputeContext } from './context.ts';
import type { DomainState, Hypervisor, MigrateOptions } from './hypervisor.ts';
import { migrateVm, moveStoppedVm } from './migrate.ts';
import { vmByName as vmRow } from './vms.ts';
import { computeMigrations } from './migrations.ts';
import type { ComputeDB } from './schema.ts';

const HOSTS = {
  h1: { name: 'h1', address: '10.0.0.1', libvirt_uri: 'qemu+ssh://h1/system', area: 'a', up: true },
  h2: { name: 'h2', address: '10.0.0.2', libvirt_uri: 'qemu+ssh://h2/system', area: 'a', up: true },
};
const uriHost = (uri: string) => (uri.includes('h1') ? 'h1' : 'h2');

/** A scripted libvirt: one domain, on h1; a migration shows the incoming copy paused on the destination, then
 * (as libvirt does once the destination's QEMU is up) starts copying with its own bandwidth over any speed set
 * before, and switches once the downtime allowed is more than 1 ms and the speed more than 1 MiB/s (or never,
 * when `stuck`). */
function scriptedHypervisor(stuck: boolean) {
  const where = new Map<string, DomainState>([['h1', 'running']]);
  const calls: string[] = [];
  let downtime = 0;
  let speed = 0;
  let copying = false;
  let finish: ((ok: boolean) => void) | undefined;
  const maybeSwitch = () => {
    if (copying && downtime > 1 && speed > 1 && !stuck) setTimeout(() => finish?.(true), 20);
  };
  const hv: Partial<Hypervisor> = {
    state: async (uri) => where.get(uriHost(uri)),
    definition: async () => '<domain/>',
    define: async (uri) => {
      calls.push(`define ${uriHost(uri)}`);
      if (!where.has(uriHost(uri))) where.set(uriHost(uri), 'shut off');
    },
    undefine: async (uri) => {
      calls.push(`undefine ${uriHost(uri)}`);
      // A running domain undefined goes on running, transient: it stays in the list.
      if (where.get(uriHost(uri)) !== 'running') where.delete(uriHost(uri));
    },
    // No snapshots here (test/system/snapshots.test.ts moves a VM that has one).
    snapshots: async () => [],
    setMaxDowntime: async (_uri, _name, ms) => {
      calls.push(`downtime ${ms}`);
      downtime = ms;
      maybeSwitch();
    },
    setMigrateSpeed: async (_u, _n, mib) => {
      calls.push(`speed ${mib}`);
      speed = mib;
      maybeSwitch();
    },
    jobInfo: async () => (copying ? { processed: 50, remaining: 50, total: 100 } : undefined),
    abortJob: async () => {
      calls.push('abort');
      finish?.(false);
    },
    migrate: (_uri: string, _name: string, m: MigrateOptions) => {
      calls.push(`migrate ${m.migrateUri} bandwidth ${m.bandwidthMib} downtime ${downtime}`);
      where.set('h2', 'paused');
      // The destination's QEMU takes a while to come up; the copy starts after the ports are ready.
      setTimeout(() => {
        copying = true;
        speed = m.bandwidthMib ?? 0;
        maybeSwitch();
      }, 300);
      return new Promise<void>((resolve, reject) => {
        finish = (ok) => {
          if (ok) {
            where.delete('h1');
            where.set('h2', 'running');
            resolve();
          } else {
            where.delete('h2');
            reject(new Error('operation aborted: migration out job: canceled by client'));
          }
        };
      });
    },
  };
  return { hv: hv as Hypervisor, calls, where };
}

describe('migrateVm', () => {
  let database: Database<ComputeDB>;
  let dir = '';
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kloudak-migrate-'));
    database = await openDatabase<ComputeDB>({ dir, migrations: computeMigrations });
  });
  after(async () => {
    await database?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function setup(name: string, stuck: boolean, state = 'running') {
    const db = database.db;
    await db
      .insertInto('vms')
      .values({
        workspace: 'w',
        name,
        task_id: `t-${name}`,
        domain: `kloudak-t-${name}`,
        host: 'h1',
        pool: 'p',
        dir: `/pool/vms/kloudak-t-${name}`,
        ip: '10.1.0.5',
        memory_mib: 128,
        vcpus: 1,
        disk_gib: 1,
        nics: JSON.stringify([{ dev: 'k0000abcdn0', mac: '52:54:00:00:00:01', bridge: 'public-br' }]),
        state,
      })
      .execute();
    const { hv, calls, where } = scriptedHypervisor(stuck);
    const published: { queue: string; body: { method?: string; host?: string } }[] = [];
    const d = {
      db,
      hypervisor: hv,
      catalogue: {
        host: async (n: string) => HOSTS[n as keyof typeof HOSTS],
        pool: async () => ({ name: 'p', path: '/pool' }),
      },
      storage: { readVmFiles: async () => [], writeVmFile: async () => undefined },
      placement: { host: async () => 'h2', pool: async () => 'p' },
      log: createLogger('test', 'silent'),
      bus: {
        rpc: async (queue: string, body: { host: string }) => {
          calls.push(`rpc ${queue} ${body.host}`);
          return { interfaces: [] };
        },
        publish: async (queue: string, body: { method?: string; host?: string }) =>
          void published.push({ queue, body }),
      },
    } as unknown as Pick<
      ComputeContext,
      'db' | 'bus' | 'catalogue' | 'placement' | 'hypervisor' | 'storage' | 'snapshotMetadata' | 'log'
    >;
    const task: VmMigrateTask = {
      task_id: `m-${name}`,
      type: 'vm',
      method: 'MIGRATE',
      owner: 'w',
      name,
      retries: 0,
      attempt: 1,
      to: null,
      from: 'h1',
      area: 'a',
    };
    const host = async () =>
      (await db.selectFrom('vms').select('host').where('name', '=', name).executeTakeFirstOrThrow()).host;
    return { d, task, calls, where, published, host };
  }

  test('holds the switch until the destination ports are ready, then moves the record', async () => {
    const s = await setup('a', false);
    const stages: string[] = [];
    const r = await migrateVm(
      s.d,
      s.task,
      { timeoutSeconds: 10, downtimeMs: 300, bandwidthMib: 1024 },
      async (x) => void stages.push(x),
    );
    assert.equal(r.to, 'h2');
    assert.deepEqual(s.calls.slice(0, 5), [
      'downtime 1',
      'migrate tcp://10.0.0.2 bandwidth 1 downtime 1',
      'rpc ports_prepare h2',
      'downtime 300',
      'speed 1024',
    ]);
    assert.ok(stages.includes('migrating to h2: ports ready'));
    assert.equal(await s.host(), 'h2');
    assert.deepEqual(
      s.published.map((p) => `${p.queue} ${p.body.method} ${p.body.host}`),
      ['network DELETE h1'],
      "the source's port rules go",
    );
  });

  test('a migration past its deadline is aborted; the VM stays on its host and the record says so', async () => {
    const s = await setup('b', true);
    await assert.rejects(
      migrateVm(
        s.d,
        s.task,
        { timeoutSeconds: 1, downtimeMs: 300, bandwidthMib: 1024 },
        async () => undefined,
      ),
      /still runs on h1/,
    );
    assert.ok(s.calls.includes('abort'));
    assert.equal(s.where.get('h1'), 'running');
    assert.equal(s.where.get('h2'), undefined);
    assert.equal(await s.host(), 'h1');
    assert.deepEqual(
      s.published.map((p) => `${p.queue} ${p.body.method} ${p.body.host}`),
      ['network DELETE h2'],
      "the destination's port rules go",
    );
  });

  test('a stopped VM moves by its definition: defined there first, then gone from here; the record follows', async () => {
    const s = await setup('c', false, 'stopped');
    s.where.set('h1', 'shut off');
    await moveStoppedVm(s.d, (await vmRow(s.d, 'w', 'c'))!, 'h2');
    assert.deepEqual(s.calls, ['define h2', 'undefine h1']);
    assert.equal(s.where.get('h2'), 'shut off');
    assert.equal(s.where.get('h1'), undefined);
    assert.equal(await s.host(), 'h2');
    // Redelivered after the move: nothing is done twice.
    await moveStoppedVm(s.d, { ...(await vmRow(s.d, 'w', 'c'))!, host: 'h1' }, 'h2');
    assert.deepEqual(s.calls, ['define h2', 'undefine h1']);
  });

  test('a stopped VM started while it moves stays where it runs, defined again; the copy there goes', async () => {
    const s = await setup('d', false, 'stopped');
    s.where.set('h1', 'shut off');
    // The start lands between the look and the undefine.
    s.d.hypervisor.define = async (uri) => {
      s.calls.push(`define ${uriHost(uri)}`);
      if (!s.where.has(uriHost(uri))) s.where.set(uriHost(uri), 'shut off');
      s.where.set('h1', 'running');
    };
    await assert.rejects(
      moveStoppedVm(s.d, (await vmRow(s.d, 'w', 'd'))!, 'h2'),
      /started on h1 during the drain/,
    );
    assert.equal(s.where.get('h1'), 'running');
    assert.equal(s.where.get('h2'), undefined);
    assert.deepEqual(s.calls, ['define h2', 'undefine h1', 'define h1', 'undefine h2']);
    assert.equal(await s.host(), 'h1');
  });
});
