// A distributed deployment on one machine: every service as its own `kloudak serve` process against the real
// PostgreSQL, RabbitMQ, Redis and ZooKeeper, as docs/deployment.md describes, for tests that SIGKILL them.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../src/lib/exec.ts';
import { TEST_AMQP, TEST_PG, TEST_REDIS, TEST_ZOOKEEPER, uniqueName } from './env.ts';

export interface ServiceProcess {
  service: string;
  index: number;
  port?: number;
  child: ChildProcess;
  output: string[];
}

export interface Cluster {
  dir: string;
  env: Record<string, string>;
  /** The deployment's RabbitMQ virtual host. */
  vhost: string;
  inventoryUrl: string;
  /** Every inventory instance (the first is inventoryUrl); instance i of another service calls instance i % n. */
  inventoryUrls: string[];
  controllerUrls: string[];
  notificationUrls: string[];
  adminPassword: string;
  procs: ServiceProcess[];
  start(service: string, index: number): Promise<ServiceProcess>;
  kill(p: ServiceProcess): Promise<void>;
  /** The last lines each process wrote, for a failing test's report. */
  logs(chars?: number): string;
  /** Starts again every instance whose process has exited, as systemd's Restart=always would. */
  revive(): Promise<void>;
  stop(): Promise<void>;
}

/** Neither exited nor killed by a signal (a SIGKILLed child has exitCode null and must not count as live). */
export const isAlive = (p: ServiceProcess) => p.child.exitCode === null && p.child.signalCode === null;

/** Ports freePort handed out: each is free only until its service binds it, so it is never handed out twice. */
const handedOut = new Set<number>();

/**
 * A port for a service this test starts a moment later. Taken below Linux's ephemeral range (32768-60999):
 * a port the kernel hands out (listen(0)) is free again once closed and the next outgoing connection may take
 * it as its local port before the service binds it (EADDRINUSE, seen in the distributed test). Never the same
 * twice in a process: two services given one port leave one down and its clients talking to the other (seen
 * in the distributed test: the controller could not bind, and the CLI's POST /vms/ got another's 404).
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    const bound = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (bound) return port;
  }
}

/** Compute and network serve no HTTP: they are ready when RabbitMQ counts every instance on its queue. */
async function workersReady(cluster: Cluster, counts: Record<string, number>, timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs;
  for (const [service, queue] of [
    ['compute', 'vm'],
    ['network', 'network'],
  ] as const) {
    const want = counts[service] ?? 0;
    while ((await consumers(queue, cluster.vhost)) < want) {
      const dead = cluster.procs.find((p) => p.service === service && !isAlive(p));
      if (dead) throw new Error(`${service}#${dead.index} exited: ${dead.output.join('').slice(-2000)}`);
      if (Date.now() > deadline)
        throw new Error(`${service}: fewer than ${want} consumers on ${queue}\n${cluster.logs()}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

async function waitHealthy(url: string, p: ServiceProcess, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(p)) throw new Error(`${p.service}#${p.index} exited: ${p.output.join('').slice(-2000)}`);
    const ok = await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${p.service}#${p.index} not healthy: ${p.output.join('').slice(-2000)}`);
}

/** Consumers RabbitMQ counts on a queue: how we know a worker process is ready. */
export async function consumers(queue: string, vhost = '/'): Promise<number> {
  const out = await run('rabbitmqctl', ['-q', 'list_queues', '-p', vhost, 'name', 'consumers'], {
    timeoutMs: 30_000,
  });
  const line = out.split('\n').find((l) => l.split(/\s+/)[0] === queue);
  return line ? Number(line.split(/\s+/)[1]) : 0;
}

export async function startCluster(
  counts: Record<string, number>,
  extraEnv: Record<string, string> = {},
): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), 'kloudak-cluster-'));
  // A RabbitMQ virtual host of its own: two deployments on one broker must not share queues.
  const vhost = uniqueName('kloudak');
  await run('rabbitmqctl', ['-q', 'add_vhost', vhost], { timeoutMs: 30_000 });
  await run('rabbitmqctl', ['-q', 'set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*'], {
    timeoutMs: 30_000,
  });
  const db = (s: string) => `${TEST_PG}/${uniqueName(`kc_${s}`).replace(/-/g, '_')}`;
  const adminPassword = 'cluster-admin-password';
  const inventoryPorts = await Promise.all(
    Array.from({ length: Math.max(1, counts.inventory ?? 1) }, freePort),
  );
  const inventoryPort = inventoryPorts[0];
  const controllerPorts = await Promise.all(Array.from({ length: counts.controller ?? 0 }, freePort));
  const notificationPorts = await Promise.all(Array.from({ length: counts.notification ?? 0 }, freePort));
  // Each monitoring process serves the stats API: on one machine each needs its own port.
  const statsPorts = await Promise.all(Array.from({ length: counts.monitoring ?? 0 }, freePort));
  // And each compute its console bridge (a fixed port would collide with another run on this machine).
  const computePorts = await Promise.all(Array.from({ length: counts.compute ?? 0 }, freePort));
  const inventoryUrl = `http://127.0.0.1:${inventoryPort}`;
  const env: Record<string, string> = {
    KLOUDAK_INVENTORY_URL: inventoryUrl,
    KLOUDAK_INVENTORY_DB: db('inventory'),
    KLOUDAK_CONTROLLER_DB: db('controller'),
    KLOUDAK_COMPUTE_DB: db('compute'),
    KLOUDAK_NETWORK_DB: db('network'),
    KLOUDAK_MONITOR_DB: db('monitor'),
    KLOUDAK_BUS: `${TEST_AMQP}/${vhost}`,
    KLOUDAK_REDIS: TEST_REDIS,
    KLOUDAK_ZOOKEEPER: TEST_ZOOKEEPER,
    KLOUDAK_SERVICE_SECRET: 'cluster-service-secret',
    // One key for every controller, as a deployment sets it: a message sealed by one controller is relayed
    // by whichever claims it (each generating its own, a killed controller's rows waited for its revival).
    KLOUDAK_TASK_KEY: 'cluster-task-seal-key-0123456789',
    KLOUDAK_JWT_KEY_FILE: join(dir, 'jwt-ed25519.pem'),
    KLOUDAK_ADMIN_PASSWORD: adminPassword,
    KLOUDAK_BIND: '127.0.0.1',
    KLOUDAK_RETRY_WAIT: '0.5',
    // KLOUDAK_TEST_CLUSTER_LOG_LEVEL=info to follow a task through every process when a test fails.
    KLOUDAK_LOG_LEVEL: process.env.KLOUDAK_TEST_CLUSTER_LOG_LEVEL ?? 'warn',
    ...extraEnv,
  };
  const procs: ServiceProcess[] = [];
  const start = async (service: string, index: number): Promise<ServiceProcess> => {
    const own: Record<string, string> = { KLOUDAK_DATA_DIR: join(dir, `${service}-${index}`) };
    let port: number | undefined;
    if (service === 'inventory') own.KLOUDAK_INVENTORY_PORT = String((port = inventoryPorts[index]!));
    else own.KLOUDAK_INVENTORY_URL = `http://127.0.0.1:${inventoryPorts[index % inventoryPorts.length]}`;
    if (service === 'controller') {
      own.KLOUDAK_CONTROLLER_PORT = String((port = controllerPorts[index]!));
      own.KLOUDAK_NOTIFICATION_URL = `ws://127.0.0.1:${notificationPorts[index % notificationPorts.length]}`;
      if (computePorts.length)
        own.KLOUDAK_COMPUTE_URL = `http://127.0.0.1:${computePorts[index % computePorts.length]}`;
    }
    if (service === 'compute') own.KLOUDAK_COMPUTE_PORT = String(computePorts[index]);
    if (service === 'notification')
      own.KLOUDAK_NOTIFICATION_PORT = String((port = notificationPorts[index]!));
    if (service === 'monitoring') own.KLOUDAK_STATS_PORT = String((port = statsPorts[index]!));
    const base = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !k.startsWith('KLOUDAK_')),
    ) as Record<string, string>;
    const child = spawn(process.execPath, ['bin/kloudak.js', 'serve', service], {
      env: { ...base, ...env, ...own },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const p: ServiceProcess = { service, index, port, child, output: [] };
    child.stdout.on('data', (b) => p.output.push(String(b)));
    child.stderr.on('data', (b) => p.output.push(String(b)));
    procs.push(p);
    if (port) await waitHealthy(`http://127.0.0.1:${port}`, p);
    return p;
  };
  const kill = async (p: ServiceProcess) => {
    if (!isAlive(p)) return;
    const gone = new Promise((r) => p.child.once('exit', r));
    p.child.kill('SIGKILL');
    await gone;
  };
  const cluster: Cluster = {
    dir,
    env,
    vhost,
    inventoryUrl,
    inventoryUrls: inventoryPorts.map((p) => `http://127.0.0.1:${p}`),
    controllerUrls: controllerPorts.map((p) => `http://127.0.0.1:${p}`),
    notificationUrls: notificationPorts.map((p) => `ws://127.0.0.1:${p}`),
    adminPassword,
    procs,
    start,
    kill,
    logs: (chars = 4000) =>
      procs
        .map((p) => `--- ${p.service}#${p.index} (pid ${p.child.pid})\n${p.output.join('').slice(-chars)}`)
        .join('\n'),
    async revive() {
      const latest = new Map<string, ServiceProcess>();
      for (const p of procs) latest.set(`${p.service}/${p.index}`, p);
      for (const p of latest.values())
        if (!isAlive(p)) await start(p.service, p.index).catch(() => undefined);
    },
    async stop() {
      // SIGTERM, then SIGKILL for whoever is still there after 1.5 s: no waiting once every process is gone.
      const live = procs.filter(isAlive);
      const exited = Promise.all(live.map((p) => new Promise((r) => p.child.once('exit', r))));
      for (const p of live) p.child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 1500))]);
      for (const p of procs) if (isAlive(p)) p.child.kill('SIGKILL');
      await run('rabbitmqctl', ['-q', 'delete_vhost', vhost], { timeoutMs: 30_000 }).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  // One after the other: the first migrates the shared database and makes the admin; the others find both.
  for (let i = 0; i < inventoryPorts.length; i++) await start('inventory', i);
  // The rest at once (each instance's start is mostly its own Node and tsx warming up): instances of one
  // service racing to migrate their shared database is what a deployment does too (migrations take a lock).
  await Promise.all(
    ['notification', 'controller', 'compute', 'network', 'monitoring'].flatMap((s) =>
      Array.from({ length: counts[s] ?? 0 }, (_, i) => start(s, i)),
    ),
  );
  await workersReady(cluster, counts);
  return cluster;
}
