// Accepted VM POSTs per second through the Kloudak controller on PostgreSQL and RabbitMQ, next to a bare
// fastify endpoint that does the minimal equivalent: insert a task row into PostgreSQL, publish the task to a
// durable RabbitMQ queue as a persistent message, wait for the broker's confirm, answer 202.
// The controller does more per request, and that is what the ratio prices: token verification, the
// permission check, the task row with its undo, one inventory call (which checks the workspace, the name,
// the template, the area and the networks, takes an address and writes the record in state C_D, in one
// transaction), the task and its outbox message in one transaction, and the relay's confirmed publish.
// Second row: the same load with every VM in one area against one area per connection (16 areas): creates in
// one area must not queue behind each other (target >= 0.8).
// No worker runs: tasks wait in the `vm` queue of a private vhost, deleted at the end with everything in it.
// Run: npx tsx bench/controller-accept.ts   (needs the test PostgreSQL and RabbitMQ; ~90 s)
// Env: BENCH_CONNECTIONS (16), BENCH_SECONDS (4 per round), BENCH_ROUNDS (5, alternating).
import { randomUUID } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import amqp from 'amqplib';
import Fastify from 'fastify';
import pg from 'pg';
import { uniqueName } from '../test/support/env.ts';
import { startPlatform, until } from '../test/support/platform.ts';
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
} from './support.ts';

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
/** The areas: /16s, so the load never runs out of addresses; the first is the one area of the main row. */
const AREAS = Array.from({ length: 16 }, (_, i) => ({
  name: `bench-area-${i}`,
  subnet: `10.${90 + i}.0.0/16`,
}));

interface LoadResult {
  done: number;
  rps: number;
  failed: number;
  p50: number;
  p99: number;
  firstError?: string;
}

// POSTs from their own thread so the load generator does not share the servers' event loop. Every request
// carries a fresh VM name (a taken name is a 409, not an acceptance).
const LOADGEN = `
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
const { url, headers, seconds, connections, body, prefix, areas } = workerData;
const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
let done = 0, failed = 0, seq = 0, firstError;
const lat = [];
const end = Date.now() + seconds * 1000;
function one(c) {
  return new Promise((resolve) => {
    const area = areas ? { area: areas[c % areas.length] } : {};
    const payload = JSON.stringify({ ...body, ...area, name: prefix + '-' + (seq++) });
    const t0 = performance.now();
    const req = http.request(url, { method: 'POST', agent, headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => {
        if (res.statusCode === 202) { done++; lat.push(performance.now() - t0); }
        else { failed++; firstError ??= res.statusCode + ' ' + text.slice(0, 200); }
        resolve();
      });
    });
    req.on('error', (e) => { failed++; firstError ??= e.message; resolve(); });
    req.end(payload);
  });
}
async function loop(_, c) { while (Date.now() < end) await one(c); }
const start = Date.now();
Promise.all(Array.from({ length: connections }, loop)).then(() => {
  agent.destroy();
  lat.sort((a, b) => a - b);
  const at = (q) => lat.length ? lat[Math.min(lat.length - 1, Math.floor(q * lat.length))] : NaN;
  parentPort.postMessage({ done, rps: done / ((Date.now() - start) / 1000), failed, p50: at(0.5), p99: at(0.99), firstError });
});
`;

async function load(
  url: string,
  headers: Record<string, string>,
  body: Record<string, unknown>,
  prefix: string,
  seconds: number,
  areas?: string[],
): Promise<LoadResult & { cpuMs: number }> {
  // CPU of this process (servers and load generator; not PostgreSQL's or RabbitMQ's) per accepted request.
  const cpu0 = process.cpuUsage();
  const r = await new Promise<LoadResult>((resolve, reject) => {
    const w = new Worker(LOADGEN, {
      eval: true,
      workerData: { url, headers, seconds, connections: CONNECTIONS, body, prefix, areas },
    });
    w.once('message', resolve);
    w.once('error', reject);
  });
  const cpu = process.cpuUsage(cpu0);
  return { ...r, cpuMs: (cpu.user + cpu.system) / 1000 / Math.max(1, r.done) };
}

await benchMain(async () => {
  const bus = await privateVhost('kloudak-bench-accept');
  // The load makes thousands of VMs in one workspace and area: the fair-share quotas and ceilings (checked
  // all the same, in every accept) are set above what it makes.
  const p = await startPlatform(
    'postgres',
    'amqp',
    { BUS: bus },
    {
      AREA_MAX_PUBLIC_IPS: '1000000',
      QUOTA_VMS: '1000000',
      QUOTA_VCPUS: '1000000',
      QUOTA_RAM: '1000000',
      QUOTA_DISK: '1000000',
    },
  );
  onCleanup('kloudak databases', async () => {
    await dropDatabase(p.config.CONTROLLER_DB!).catch(() => undefined);
    await dropDatabase(p.inv.config.INVENTORY_DB!).catch(() => undefined);
  });
  onCleanup('platform', () => p.close());

  // A workspace, an area with a /16 (65,534 addresses for the VMs the load creates) and a template.
  const admin = await p.inv.adminToken();
  const user = uniqueName('bench');
  await p.inv.user(user);
  const ws = uniqueName('ws');
  await p.inv.call('POST', '/workspaces/', await p.inv.login(user), { name: ws });
  const token = await p.inv.login(user);
  for (const a of AREAS) {
    const area = await p.inv.call('POST', '/areas/', admin, a);
    if (area.status !== 201) throw new Error(`area: ${area.status} ${JSON.stringify(area.body)}`);
  }
  const tpl = await p.inv.call('POST', '/templates/', admin, {
    name: 'bench-tpl',
    cpu: 1,
    ram: 0.09375,
    disk: 0.125,
  });
  if (tpl.status !== 201) throw new Error(`template: ${tpl.status} ${JSON.stringify(tpl.body)}`);
  const vmBody = {
    owner: ws,
    area: AREAS[0].name,
    template: 'bench-tpl',
    password: 'pw-bench',
    description: 'bench',
  };

  // The bare endpoint: its own database and queue, the same broker (same vhost) and pool size as the controller.
  const bareDb = await createDatabase('kbench_bare');
  const pool = new pg.Pool({ connectionString: bareDb, max: 10 });
  onCleanup('bare pool', () => pool.end());
  await pool.query(
    'CREATE TABLE tasks (id uuid PRIMARY KEY, body jsonb NOT NULL, created timestamptz NOT NULL DEFAULT now())',
  );
  const conn = await amqp.connect(bus);
  onCleanup('bare amqp connection', () => conn.close());
  const ch = await conn.createConfirmChannel();
  await ch.assertQueue('bare_vm', { durable: true });
  const bare = Fastify({ logger: false });
  onCleanup('bare server', () => bare.close());
  bare.post<{ Body: Record<string, unknown> }>('/vms/', async (req, reply) => {
    const id = randomUUID();
    const body = { ...req.body, task_id: id, type: 'vm', method: 'POST' };
    await pool.query('INSERT INTO tasks (id, body) VALUES ($1, $2)', [id, JSON.stringify(body)]);
    await new Promise<void>((resolve, reject) =>
      ch.sendToQueue(
        'bare_vm',
        Buffer.from(JSON.stringify(body)),
        { persistent: true, contentType: 'application/json' },
        (err: unknown) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve()),
      ),
    );
    return reply.code(202).send({ task_id: id, status: 'pending' });
  });
  await bare.listen({ host: '127.0.0.1', port: 0 });
  const bareUrl = `http://127.0.0.1:${(bare.server.address() as { port: number }).port}/vms/`;
  const kloudakUrl = `${p.controllerUrl}/vms/`;
  const auth = { token };

  // Both must accept before they are timed.
  const probe = await p.call('POST', '/vms/', token, { ...vmBody, name: 'probe' });
  if (probe.status !== 202)
    throw new Error(`controller refused the probe: ${probe.status} ${JSON.stringify(probe.body)}`);

  note(`warm-up, then ${ROUNDS} alternating rounds of ${SECONDS} s each, ${CONNECTIONS} connections`);
  const spread = AREAS.map((a) => a.name);
  await load(bareUrl, {}, vmBody, 'warm', 2);
  await load(kloudakUrl, auth, vmBody, 'warm', 2);
  await load(kloudakUrl, auth, vmBody, 'warm16', 1, spread);
  const k: (LoadResult & { cpuMs: number })[] = [];
  const b: (LoadResult & { cpuMs: number })[] = [];
  const k16: (LoadResult & { cpuMs: number })[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    b.push(await load(bareUrl, {}, vmBody, `r${r}`, SECONDS));
    k.push(await load(kloudakUrl, auth, vmBody, `r${r}`, SECONDS));
    k16.push(await load(kloudakUrl, auth, vmBody, `s${r}`, SECONDS, spread));
    note(
      `round ${r + 1}: kloudak ${round(k[r].rps)}/s in one area, ${round(k16[r].rps)}/s over 16 areas (${round(k[r].cpuMs, 2)} ms CPU per request), bare ${round(b[r].rps)}/s (${round(b[r].cpuMs, 2)} ms CPU)`,
    );
  }
  const all = [...k, ...b, ...k16];
  const failed = all.reduce((n, x) => n + x.failed, 0);
  if (failed)
    throw new Error(
      `${failed} requests were not accepted; first: ${all.find((x) => x.firstError)?.firstError}`,
    );

  // "Into RabbitMQ": every accepted task must reach the vm queue (the relay publishes after the commit).
  const { n } = await p.inv.inventory.database.db
    .selectFrom('vms')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .executeTakeFirstOrThrow();
  const acceptedAll = Number(n);
  const drainStart = Date.now();
  const depth = await until(
    'every accepted task in the vm queue',
    async () => {
      const d = await p.bus.depth('vm');
      return d >= acceptedAll ? d : undefined;
    },
    120_000,
    200,
  );
  const drainMs = Date.now() - drainStart;

  const med = (xs: number[]) => round(median(xs), 2);
  emit({
    figure: `VM POSTs accepted per second into RabbitMQ, PostgreSQL, ${CONNECTIONS} connections, one area /16, vs bare insert + confirmed publish`,
    samples: k.map((x) => x.rps),
    baselineSamples: b.map((x) => x.rps),
    unit: 'requests/s',
    target: '>= 0.25',
    kloudak_p50_ms: med(k.map((x) => x.p50)),
    baseline_p50_ms: med(b.map((x) => x.p50)),
    kloudak_p99_ms: med(k.map((x) => x.p99)),
    baseline_p99_ms: med(b.map((x) => x.p99)),
    kloudak_cpu_ms_per_request: med(k.map((x) => x.cpuMs)),
    baseline_cpu_ms_per_request: med(b.map((x) => x.cpuMs)),
    tasks_in_queue: depth,
    accepted_in_all: acceptedAll,
    queue_caught_up_after_ms: drainMs,
  });
  emit({
    figure: `${CONNECTIONS} concurrent VM creates: all in one area vs one area per connection (16 areas), accepted per second`,
    samples: k.map((x) => x.rps),
    baselineSamples: k16.map((x) => x.rps),
    unit: 'requests/s',
    target: '>= 0.8',
  });
});
