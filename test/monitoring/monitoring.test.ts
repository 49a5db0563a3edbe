// Monitoring in one process (PGlite, in-process bus) against scripted hosts: failure detection publishes
// host_failure once after HOST_FAILURE_CHECKS failed checks and host_up once when the host is back;
// placement answers by the rule, reserves, refuses with `conflict` and says `unavailable` before any check;
// the stats API checks tokens and answers hosts' and VMs' usage.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ALL_PERMISSIONS,
  createTokenSigner,
  createTokenVerifier,
  SERVICE_CLAIM,
} from '../../src/lib/auth.ts';
import type { Bus } from '../../src/lib/bus/bus.ts';
import { createMemoryBus } from '../../src/lib/bus/memory.ts';
import { loadConfig } from '../../src/lib/config.ts';
import { isAppError } from '../../src/lib/errors.ts';
import type { HostPlacementRequest } from '../../src/lib/contracts/messages.ts';
import type { Host as HostRecord } from '../../src/lib/contracts/inventory.ts';
import { createLogger } from '../../src/lib/log.ts';
import { createSingleElection } from '../../src/monitoring/election.ts';
import type { HostFacts, HostProbe } from '../../src/monitoring/probe.ts';
import { createMonitoring, type Monitoring } from '../../src/monitoring/service.ts';
import { PGLITE_TEMPLATE } from '../support/env.ts';
import { createTestStandings } from '../support/standings.ts';

const log = createLogger('test', process.env.KLOUDAK_TEST_LOG ?? 'silent');

const facts = (freeMib: number, domains: HostFacts['domains'] = []): HostFacts => ({
  cpus: 2,
  memoryMib: 8192,
  freeMib,
  cpuTimes: { user: 1e9, system: 1e9, idle: 8e9, iowait: 0 },
  domains,
});

describe('monitoring in one process', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kloudak-mon-unit-'));
  let bus: Bus;
  let m: Monitoring;
  const down = new Set<string>();
  /** Domains h-c runs (a test starts one). */
  const onC: HostFacts['domains'] = [];
  const cpuTime = { n: 1e9 };
  const hosts: HostRecord[] = ['a', 'b', 'c'].map((n) => ({
    name: `h-${n}`,
    address: '127.0.0.1',
    libvirt_uri: `test:///${n}`,
    area: 'one',
    cpus: 2,
    memory: 2,
    domain_type: 'qemu',
  }));
  const probe: HostProbe = {
    async host(uri) {
      const name = `h-${uri.slice('test:///'.length)}`;
      if (down.has(name)) throw new Error(`${name} unreachable`);
      cpuTime.n += 5e8;
      // h-a runs one 1 GiB VM of workspace ws1; h-b has less measured free memory than its registration allows.
      if (name === 'h-a')
        return facts(6000, [
          {
            name: 'kloudak-x',
            title: 'ws1/vm1',
            cpuTimeNs: cpuTime.n,
            cpuUserNs: cpuTime.n / 2,
            cpuSystemNs: cpuTime.n / 4,
            memoryKib: 1 << 20,
            maxMemoryKib: 1 << 20,
            rssKib: 300_000,
            vcpus: 1,
          },
        ]);
      if (name === 'h-b') return facts(1500);
      return facts(6000, name === 'h-c' ? onC : []);
    },
    async pool() {
      return { fsSizeGib: 100, fsFreeGib: 60, usedGib: 5 };
    },
  };
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const signer = createTokenSigner(privateKey, 'test');
  const standings = createTestStandings(signer, createTokenVerifier(publicKey), log);
  const failures: Record<string, unknown>[] = [];
  const ups: Record<string, unknown>[] = [];

  before(async () => {
    bus = await createMemoryBus({ log });
    await bus.consume('host_failure', async (d) => void failures.push(d.body));
    await bus.consume('host_up', async (d) => void ups.push(d.body));
    const config = loadConfig(
      {},
      {
        DATA_DIR: dir,
        MONITOR_INTERVAL: '3600',
        HOST_FAILURE_CHECKS: '3',
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
      election: createSingleElection('solo'),
      catalogue: {
        hosts: async () => hosts,
        pools: async () => [{ name: 'p1', path: '/pool', area: 'one', size: 20 }],
      },
      auth: standings.authority,
    });
  });
  after(async () => {
    await m?.close();
    await bus?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const place = (body: HostPlacementRequest) => bus.rpc('placement_host', body, { timeout: 5 });
  const failure = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (e: unknown) => e,
    );

  test('before any check placement says unavailable (compute then decides itself)', async () => {
    const e = await failure(place({ area: 'one', memoryMib: 64, vcpus: 1 }));
    assert.ok(isAppError(e) && e.kind === 'unavailable', String(e));
  });

  test('the rule: most free memory among up hosts with room; reservations count; no room is a conflict', async () => {
    const r = await m.cycle();
    assert.deepEqual(r?.assignment, { solo: 3 });
    // h-a: 2048 - 1024 = 1024 free; h-b: min(2048, 1500) = 1500; h-c: 2048.
    assert.equal((await place({ area: 'one', memoryMib: 512, vcpus: 1 })).host, 'h-c');
    // h-c now has 1536 left (reserved 512): still the most.
    assert.equal((await place({ area: 'one', memoryMib: 512, vcpus: 1 })).host, 'h-c');
    // h-c 1024, h-b 1500: h-b.
    assert.equal((await place({ area: 'one', memoryMib: 512, vcpus: 1, exclude: [] })).host, 'h-b');
    assert.equal(
      (await place({ area: 'one', memoryMib: 100, vcpus: 1, exclude: ['h-b', 'h-c'] })).host,
      'h-a',
    );
    const e = await failure(place({ area: 'one', memoryMib: 4096, vcpus: 1 }));
    assert.ok(isAppError(e) && e.kind === 'conflict', String(e));
    assert.equal(e.message, 'no host in area one has 4096 MiB and 1 vCPU free');
    const bad = await failure(place({ area: 'one', memoryMib: -1, vcpus: 1 }));
    assert.ok(isAppError(bad) && bad.kind === 'input' && bad.field === 'memoryMib');
    assert.equal((await bus.rpc('placement_pool', { area: 'one', sizeGib: 1 }, { timeout: 5 })).pool, 'p1');
    const noPool = await failure(bus.rpc('placement_pool', { area: 'one', sizeGib: 50 }, { timeout: 5 }));
    assert.ok(isAppError(noPool) && noPool.kind === 'conflict');
  });

  test('a reservation naming its domain ends when a check finds the domain running: counted once', async () => {
    const onlyC = { area: 'one', vcpus: 1, only: ['h-c'] };
    const first = await place({ ...onlyC, memoryMib: 256, domain: 'kloudak-burst-1' });
    assert.equal(first.host, 'h-c');
    onC.push({
      name: 'kloudak-burst-1',
      title: 'ws9/burst-1',
      cpuTimeNs: 1e9,
      cpuUserNs: 5e8,
      cpuSystemNs: 2e8,
      memoryKib: 256 << 10,
      maxMemoryKib: 256 << 10,
      rssKib: 100_000,
      vcpus: 1,
    });
    try {
      await m.cycle();
      // Its 256 MiB are now in h-c's figures; with the reservation too, h-c would have 256 MiB less.
      const next = await place({ ...onlyC, memoryMib: 1 });
      assert.equal(next.freeMib, first.freeMib! - 256);
    } finally {
      onC.length = 0;
      await m.cycle();
    }
  });

  test('a host failing 3 checks in a row is marked down and host_failure published once; host_up once when back', async () => {
    down.add('h-b');
    await m.cycle();
    await m.cycle();
    assert.equal(failures.length, 0, 'two failures are not enough');
    await m.cycle();
    await m.cycle();
    await m.cycle();
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(
      failures.map((f) => [f.host, f.area]),
      [['h-b', 'one']],
      'published once',
    );
    const row = await m.database.db
      .selectFrom('hosts')
      .selectAll()
      .where('name', '=', 'h-b')
      .executeTakeFirstOrThrow();
    assert.equal(row.up, false);
    assert.equal(row.failures, 5);
    assert.equal(
      ((await failure(place({ area: 'one', memoryMib: 64, vcpus: 1, exclude: ['h-a', 'h-c'] }))) as Error)
        .message,
      'no host in area one has 64 MiB and 1 vCPU free (down: h-b)',
    );
    down.delete('h-b');
    await m.cycle();
    await m.cycle();
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(
      ups.map((u) => u.host),
      ['h-b'],
      'host_up once',
    );
    assert.equal(failures.length, 1);
  });

  test('stats API: tokens checked; hosts for admins; a VM for members of its workspace', async () => {
    const admin = (await standings.user([], { admin: true })).token;
    const service = await signer.sign(
      { username: 'kloudak-monitoring', [SERVICE_CLAIM]: true, service: 'monitoring' },
      600,
    );
    const member = (await standings.user({ ws1: ALL_PERMISSIONS })).token;
    const stranger = (await standings.user({ ws2: ALL_PERMISSIONS })).token;
    const get = async (url: string, token?: string) => {
      const r = await m.app.inject({ method: 'GET', url, headers: token ? { token } : {} });
      return { status: r.statusCode, body: r.json() };
    };
    assert.equal((await get('/stats/hosts/')).status, 401);
    assert.equal((await get('/stats/hosts/', member)).status, 403);
    const hostsList = await get('/stats/hosts/', admin);
    assert.equal(hostsList.status, 200);
    assert.deepEqual(
      hostsList.body.hosts.map((h: { name: string }) => h.name),
      ['h-a', 'h-b', 'h-c'],
    );
    const ha = await get('/stats/hosts/h-a/?minutes=10', service);
    assert.equal(ha.status, 200);
    assert.ok(ha.body.samples.length >= 5);
    assert.equal(ha.body.host.running, 1);
    assert.equal(ha.body.host.alloc_mib, 1024);
    assert.equal((await get('/stats/hosts/nope/', admin)).status, 404);
    assert.equal((await get('/stats/pools/p1/', admin)).body.pool.fs_free_gib, 60);

    const vm = await get('/stats/vms/ws1/vm1/', member);
    assert.equal(vm.status, 200, JSON.stringify(vm.body));
    assert.equal(vm.body.host, 'h-a');
    assert.equal(vm.body.domain, 'kloudak-x');
    assert.ok(vm.body.samples.length >= 5);
    assert.equal(vm.body.samples[0].cpu, null);
    assert.equal(typeof vm.body.samples[1].cpu, 'number');
    assert.equal(vm.body.samples[0].memory_kib, 1 << 20);
    assert.equal((await get('/stats/vms/ws1/', member)).body.vms[0].name, 'vm1');
    assert.equal((await get('/stats/vms/ws1/vm1/', stranger)).status, 403);
    assert.equal((await get('/stats/vms/ws1/vm1/', admin)).status, 200);
    assert.equal((await get('/stats/vms/ws1/other/', member)).status, 404);
    assert.equal((await get('/healthz')).status, 200);
  });
});
