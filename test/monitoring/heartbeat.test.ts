// Issue 18 item 5 in one process (PGlite, in-process bus) against scripted hosts: heartbeats renew each host's
// lease; when a lease runs out, monitoring asks the host's guests on the public network (the second path) and
// publishes host_failure only when none answers and the host's management address takes no connection; a host
// without guests waits for HOST_FAILURE_CHECKS failed checks, and failed checks too are overruled by guests that
// answer.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bus } from '../../src/lib/bus/bus.ts';
import { createMemoryBus } from '../../src/lib/bus/memory.ts';
import { loadConfig } from '../../src/lib/config.ts';
import { unauthenticated } from '../../src/lib/errors.ts';
import type { Host as HostRecord } from '../../src/lib/contracts/inventory.ts';
import { createLogger } from '../../src/lib/log.ts';
import type { GuestDirectory, GuestProbe, ManagementReach } from '../../src/monitoring/confirm.ts';
import { createSingleElection } from '../../src/monitoring/election.ts';
import type { HostFacts, HostProbe } from '../../src/monitoring/probe.ts';
import { createFailureDecider } from '../../src/monitoring/failure.ts';
import { createMonitoring, type Monitoring } from '../../src/monitoring/service.ts';
import { PGLITE_TEMPLATE } from '../support/env.ts';
import { until } from '../support/platform.ts';

const log = createLogger('test', process.env.KLOUDAK_TEST_LOG ?? 'silent');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('heartbeats, leases and the second path', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kloudak-mon-hb-'));
  let bus: Bus;
  let m: Monitoring;
  /** Hosts whose management network is cut: checks and heartbeats fail. */
  const cut = new Set<string>();
  /** Hosts starved of CPU: heartbeats and checks fail, but their kernel still accepts TCP connections. */
  const starved = new Set<string>();
  const reach: ManagementReach = { accepts: async (uri) => starved.has(nameOf(uri)) };
  /** Guest addresses that answer on the public network. */
  const answering = new Set<string>(['10.9.0.1', '10.9.0.2']);
  const asked: string[][] = [];
  const nameOf = (uri: string) => `h-${uri.slice('test:///'.length)}`;
  const hosts: HostRecord[] = ['a', 'b', 'c'].map((n) => ({
    name: `h-${n}`,
    address: '127.0.0.1',
    libvirt_uri: `test:///${n}`,
    area: 'one',
    cpus: 2,
    memory: 2,
    domain_type: 'qemu',
  }));
  // h-a runs ws1/va (10.9.0.1), h-b runs ws1/vb (10.9.0.2), h-c runs nothing.
  const guestOf: Record<string, string | undefined> = { 'h-a': 'va', 'h-b': 'vb' };
  const ips: Record<string, string> = { va: '10.9.0.1', vb: '10.9.0.2' };
  const probe: HostProbe = {
    async host(uri): Promise<HostFacts> {
      const name = nameOf(uri);
      if (cut.has(name)) throw new Error(`${name} unreachable`);
      const vm = guestOf[name];
      return {
        cpus: 2,
        memoryMib: 2048,
        freeMib: 1500,
        domains: vm
          ? [
              {
                name: `kloudak-${vm}`,
                title: `ws1/${vm}`,
                cpuTimeNs: 1,
                cpuUserNs: 1,
                cpuSystemNs: 0,
                memoryKib: 65536,
                maxMemoryKib: 65536,
                vcpus: 1,
              },
            ]
          : [],
      };
    },
    async heartbeat(uri) {
      if (cut.has(nameOf(uri))) throw new Error('no answer');
      return true;
    },
    async pool() {
      return { fsSizeGib: 1, fsFreeGib: 1, usedGib: 0 };
    },
  };
  const guests: GuestProbe = {
    async answering(addresses) {
      asked.push(addresses);
      return addresses.filter((a) => answering.has(a));
    },
  };
  const directory: GuestDirectory = {
    async addresses(host, vms) {
      return vms.filter((v) => v.workspace === 'ws1' && guestOf[host] === v.vm).map((v) => ips[v.vm]);
    },
  };
  const failures: string[] = [];

  before(async () => {
    bus = await createMemoryBus({ log });
    await bus.consume('host_failure', async (d) => void failures.push(String(d.body.host)));
    await bus.consume('host_up', async () => undefined);
    const config = loadConfig(
      {},
      {
        DATA_DIR: dir,
        MONITOR_INTERVAL: '3600',
        MONITOR_HEARTBEAT: '0.1',
        HOST_LEASE: '0.5',
        HOST_FAILURE_CHECKS: '3',
        // The grace has its own test below: here every guest is asked from its first check on.
        HOST_CONFIRM_GRACE: '0',
        LOG_LEVEL: 'silent',
        SERVICE_SECRET: 'unit-secret-0123',
        PGLITE_TEMPLATE,
      },
    );
    m = await createMonitoring({
      config,
      log,
      bus,
      probe,
      guests,
      guestDirectory: directory,
      reach,
      election: createSingleElection('solo'),
      catalogue: { hosts: async () => hosts, pools: async () => [] },
      verifier: { verify: async () => Promise.reject(unauthenticated()) },
    });
    await m.cycle();
    await sleep(500); // the first heartbeats: a host gets a lease once one answered
  });
  after(async () => {
    await m?.close();
    await bus?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const row = (name: string) =>
    m.database.db.selectFrom('hosts').selectAll().where('name', '=', name).executeTakeFirstOrThrow();

  test('a host whose heartbeats stop while its guest answers on the public network is not failed over', async () => {
    cut.add('h-a');
    await until('the lease of h-a to run out and its guest to be asked', async () =>
      /guests answer on the public network/.test((await row('h-a')).last_error ?? '') ? true : undefined,
    );
    assert.ok(
      asked.some((a) => a.includes('10.9.0.1')),
      'its guest was asked',
    );
    await sleep(1500); // three more leases
    // Failed checks too are overruled while its guest answers.
    for (let i = 0; i < 4; i++) await m.cycle();
    assert.deepEqual(failures, []);
    const r = await row('h-a');
    assert.equal(r.up, true);
    assert.equal(r.failures, 4);
    cut.delete('h-a');
    await m.cycle();
    assert.equal((await row('h-a')).last_error, null);
  });

  test('a silent host none of whose guests answers yet, but which accepts connections, is not failed over', async () => {
    // A host starved of CPU: heartbeats time out and its guests (booting) do not answer, but it runs.
    answering.delete('10.9.0.2');
    starved.add('h-b');
    cut.add('h-b');
    await until('the lease of h-b to run out and its management address to be tried', async () =>
      /accepts connections on its management address \(none of its guests answers yet\): not failed over/.test(
        (await row('h-b')).last_error ?? '',
      )
        ? true
        : undefined,
    );
    await sleep(1500); // three more leases
    assert.deepEqual(failures, []);
    assert.equal((await row('h-b')).up, true);
    cut.delete('h-b');
    starved.delete('h-b');
    answering.add('10.9.0.2');
    await m.cycle();
    assert.equal((await row('h-b')).last_error, null);
    await sleep(1000); // heartbeats back (their back-off is at most 8 beats): h-b holds a lease again
  });

  test('a silent host none of whose guests answers is failed over once, within a lease or two', async () => {
    answering.delete('10.9.0.2');
    const at = Date.now();
    cut.add('h-b');
    await until('host_failure for h-b', () => (failures.includes('h-b') ? true : undefined), 5000, 20);
    const took = Date.now() - at;
    await sleep(1500);
    assert.deepEqual(failures, ['h-b'], 'published once');
    const r = await row('h-b');
    assert.equal(r.up, false);
    assert.match(r.last_error ?? '', /no heartbeat answered for [\d.]+ s and none of its guests answers/);
    assert.ok(took < 5000, `took ${took} ms`);
  });

  test('a silent host without guests is not failed over by its lease, only after HOST_FAILURE_CHECKS checks', async () => {
    cut.add('h-c');
    await sleep(1500);
    assert.deepEqual(failures, ['h-b'], 'the lease alone does not fail a host with nothing to confirm');
    await m.cycle();
    await m.cycle();
    assert.deepEqual(failures, ['h-b']);
    await m.cycle();
    await until('host_failure for h-c', () => (failures.includes('h-c') ? true : undefined), 2000, 20);
    assert.equal((await row('h-c')).up, false);
  });

  test('a guest seen on its host for less than HOST_CONFIRM_GRACE is not asked: its silence fails nothing', async () => {
    answering.clear();
    await m.cycle(); // h-a's good check: its guest va sampled now, a few ms ago
    assert.equal((await row('h-a')).up, true);
    const decider = (graceMs: number) =>
      createFailureDecider({
        db: m.database.db,
        bus,
        log,
        failureChecks: 3,
        confirm: { guests, directory, from: 'local', timeoutMs: 100, graceMs, reach, reachTimeoutMs: 100 },
      });
    const hostA = { name: 'h-a', area: 'one', libvirt_uri: 'test:///a' };
    asked.length = 0;
    await decider(60_000).expired(hostA, 5000);
    assert.deepEqual(asked, [], 'a guest younger than the grace is not asked');
    assert.equal((await row('h-a')).up, true, 'nothing to ask: the lease alone fails nothing');
    await decider(0).expired(hostA, 5000);
    assert.deepEqual(asked, [['10.9.0.1']], 'past the grace it is asked');
    await until('host_failure for h-a', () => (failures.includes('h-a') ? true : undefined), 2000, 20);
    assert.equal((await row('h-a')).up, false);
  });
});
