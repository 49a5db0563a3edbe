// Network service on the lab (issue 5), two figures:
//
// 1. Port tagging through the service: a `vm` network task (as compute sends after starting a VM) for an
//    existing OVS port, published on the bus, until its result comes back on network_notification: the worker
//    looks up the host (inventory, cached) and the network's VLAN, runs `ovs-vsctl set Port <dev> tag=<vlan>`
//    on the host over SSH, records the port, publishes the result. Baseline: the same bare
//    `ovs-vsctl --timeout=10 set Port <dev> tag=<vlan>` over the same SSH connection (the same ControlMaster
//    socket the service uses). The port is a dummy internal port this bench adds to the host's private bridge;
//    the tag alternates between two VLANs so every call changes it. Median of BENCH_RUNS (20) each, interleaved.
// 2. Network create latency: POST /networks/ on the controller until the task's successful status reaches the
//    workspace room (inventory checks, outbox, relay, bus, network worker taking a VLAN, result, inventory
//    update). Median of BENCH_RUNS (20). Baseline: the floor of the same work with nothing around it, one SQL
//    statement taking the lowest free VLAN into a table on the same PostgreSQL server.
//
// Backend: BENCH_BACKEND=distributed (default: PostgreSQL, RabbitMQ in private vhosts) or embedded (PGlite,
// in-process bus). Run: npx tsx bench/network.ts   (needs the lab and the test middleware; ~1 min)
// Prints one JSON line per figure: {figure, kloudak, baseline, ratio, unit}.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createBus, type Bus } from '../src/lib/bus/index.ts';
import type { NetworkTask, TaskResult } from '../src/lib/contracts/messages.ts';
import { createLogger } from '../src/lib/log.ts';
import { createSshShell } from '../src/lib/ssh.ts';
import { createNetworkService } from '../src/network/service.ts';
import { uniqueName } from '../test/support/env.ts';
import { ensureLab, labConfig, registerTestLab } from '../test/support/lab.ts';
import { startPlatform, type TestPlatform } from '../test/support/platform.ts';
import {
  benchMain,
  createDatabase,
  dropDatabase,
  emit,
  median,
  note,
  onCleanup,
  privateVhost,
  round,
  watchRoom,
} from './support.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const BACKEND = process.env.BENCH_BACKEND ?? 'distributed';
const distributed = BACKEND !== 'embedded';

await benchMain(async () => {
  const lab = await ensureLab(2);
  const log = createLogger('bench', process.env.KLOUDAK_TEST_LOG ?? 'silent');

  let p: TestPlatform;
  if (distributed) {
    p = await startPlatform('postgres', 'amqp', {
      ...labConfig(lab),
      BUS: await privateVhost('kloudak-bench-net'),
    });
    onCleanup('kloudak databases', async () => {
      await dropDatabase(p.config.CONTROLLER_DB!).catch(() => undefined);
      await dropDatabase(p.inv.config.INVENTORY_DB!).catch(() => undefined);
    });
  } else p = await startPlatform('pglite', 'memory', labConfig(lab));
  onCleanup('platform', () => p.close());
  const admin = await p.inv.adminToken();
  await registerTestLab(lab, p.inv.url, admin);
  const user = uniqueName('bench');
  await p.inv.user(user);
  const ws = uniqueName('ws');
  await p.inv.call('POST', '/workspaces/', await p.inv.login(user), { name: ws });
  const token = await p.inv.login(user);

  // A network service with its own data dir (and database), on the given bus.
  const networkService = async (bus: Bus) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'kloudak-bench-net-'));
    onCleanup('network data dir', async () => rmSync(dataDir, { recursive: true, force: true }));
    const db: Record<string, string> = distributed ? { NETWORK_DB: await createDatabase('kbench_net') } : {};
    const s = await createNetworkService({
      config: p.serviceConfig({ DATA_DIR: dataDir, RECONCILE_INTERVAL: '3600', ...db }),
      log,
      bus,
    });
    onCleanup('network service', () => s.close());
    return s;
  };

  // ---- 1. port tagging: the service on a bus of its own, whose results this bench consumes ----
  const tagBus = distributed
    ? await createBus({ url: await privateVhost('kloudak-bench-tag'), log })
    : await createBus({ journalDir: undefined, log });
  onCleanup('tagging bus', () => tagBus.close());
  await networkService(tagBus);
  const results = new Map<string, (r: TaskResult) => void>();
  await tagBus.consume('network_notification', async (d) => {
    results.get(String(d.body.task_id))?.(d.body);
  });
  // A network task without the fields this bench fills in.
  type Body<T = NetworkTask> = T extends NetworkTask
    ? Omit<T, 'task_id' | 'owner' | 'retries' | 'attempt'>
    : never;
  const task = async (body: Body) => {
    const task_id = randomUUID();
    const done = new Promise<TaskResult>((resolve) => results.set(task_id, resolve));
    const t0 = performance.now();
    await tagBus.publish('network', { task_id, owner: ws, retries: 0, attempt: 1, ...body });
    const r = await done;
    const ms = performance.now() - t0;
    results.delete(task_id);
    if (r.status !== 'successful')
      throw new Error(`network task ${body.type} ${body.method}: ${String(r.error)}`);
    return { r, ms };
  };
  const vlanA = Number(
    (await task({ type: 'network', method: 'POST', name: 'tag-a', description: '', subnet: null })).r.vlan,
  );
  const vlanB = Number(
    (await task({ type: 'network', method: 'POST', name: 'tag-b', description: '', subnet: null })).r.vlan,
  );

  const host = lab.hosts[0];
  const shell = createSshShell({ user: lab.ssh.user, key: lab.ssh.key, knownHosts: lab.ssh.knownHosts });
  const vsctl = (args: string[]) =>
    shell.run(host.ip, ['ovs-vsctl', '--timeout=10', ...args], { timeoutMs: 20_000 });
  const dev = `kbt${randomBytes(4).toString('hex')}`;
  await vsctl(['add-port', host.bridges.private, dev, '--', 'set', 'Interface', dev, 'type=internal']);
  onCleanup(`port ${dev}`, () => vsctl(['--if-exists', 'del-port', host.bridges.private, dev]));
  const mac = '52:54:00:be:0c:01';
  const viaService = (network: string) =>
    task({
      type: 'vm',
      method: 'POST',
      name: 'bench-vm',
      host: host.name,
      interfaces: [{ dev, mac, network }],
    });
  const bare = async (vlan: number) => {
    const t0 = performance.now();
    await vsctl(['set', 'Port', dev, `tag=${vlan}`]);
    return performance.now() - t0;
  };
  const tagNow = async () => (await vsctl(['get', 'Port', dev, 'tag'])).trim();

  note(
    `port tagging: ${RUNS} through the service and ${RUNS} bare, interleaved, on ${host.name} (${BACKEND} backend)`,
  );
  for (let i = 0; i < 2; i++) {
    await viaService(i % 2 ? 'tag-a' : 'tag-b');
    await bare(i % 2 ? vlanA : vlanB);
  }
  const svc: number[] = [];
  const raw: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const [net, vlan] = i % 2 ? (['tag-a', vlanA] as const) : (['tag-b', vlanB] as const);
    const other = i % 2 ? vlanB : vlanA;
    svc.push((await viaService(net)).ms);
    if ((await tagNow()) !== String(vlan)) throw new Error(`the service did not tag ${dev} with ${vlan}`);
    raw.push(await bare(other));
    if ((await tagNow()) !== String(other))
      throw new Error(`bare ovs-vsctl did not tag ${dev} with ${other}`);
  }
  emit({
    figure: `port tagging (a vm network task for 1 port) vs bare ovs-vsctl over the same SSH connection, median of ${RUNS}`,
    kloudak: round(median(svc)),
    baseline: round(median(raw)),
    unit: 'ms',
    kloudak_max_ms: round(Math.max(...svc)),
    baseline_max_ms: round(Math.max(...raw)),
    backend: BACKEND,
  });

  // ---- 2. network create through the controller ----
  await networkService(distributed ? await p.connectBus() : p.bus);
  const room = await watchRoom(p.notificationUrl, ws, token);
  onCleanup('room', async () => room.close());
  const create = async (name: string) => {
    const t0 = performance.now();
    const r = await p.call('POST', '/networks/', token, { owner: ws, name });
    if (r.status !== 202) throw new Error(`POST /networks/ ${name}: ${r.status} ${JSON.stringify(r.body)}`);
    const e = await room.ended(r.body.task_id, 60_000);
    if (e.status !== 'successful') throw new Error(`network ${name}: ${e.status} ${e.error ?? ''}`);
    return e.at - t0;
  };

  // The floor: one statement taking the lowest free VLAN, on the same server (PGlite has no server: skipped).
  let floor: (name: string) => Promise<number> = async () => NaN;
  if (distributed) {
    const url = await createDatabase('kbench_vlan');
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    onCleanup('vlan pool', () => pool.end());
    await pool.query('CREATE TABLE networks (name text PRIMARY KEY, vlan int NOT NULL UNIQUE)');
    floor = async (name) => {
      const t0 = performance.now();
      await pool.query(
        'INSERT INTO networks (name, vlan) SELECT $1, min(v) FROM generate_series(2, 4094) v WHERE NOT EXISTS (SELECT 1 FROM networks n WHERE n.vlan = v) RETURNING vlan',
        [name],
      );
      return performance.now() - t0;
    };
  }

  note(`network create: ${RUNS} through the controller`);
  await create('warm-up');
  await floor('warm-up');
  const made: number[] = [];
  const bareMade: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    made.push(await create(`net-${i}`));
    bareMade.push(await floor(`net-${i}`));
  }
  const base = median(bareMade);
  emit({
    figure: `network create, POST /networks/ to task successful, median of ${RUNS}`,
    kloudak: round(median(made)),
    baseline: Number.isNaN(base) ? null : round(base, 2),
    unit: 'ms',
    kloudak_max_ms: round(Math.max(...made)),
    baseline_is: 'one SQL statement taking the lowest free VLAN (the floor of the work)',
    backend: BACKEND,
  });
});
