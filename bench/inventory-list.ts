// Requests per second of an authenticated GET /<ws>/vms/ with 10,000 VMs in the workspace (each on one of
// four networks), on PostgreSQL, next to the bare way to do the same work: a fastify endpoint that runs one
// SELECT of the same rows (the page, each VM with its networks and NICs aggregated) and answers
// JSON.stringify of them, without a token, a membership check or a response schema. Both answer the same
// JSON (checked first). Rows: the default page (100) and the largest (1,000).
// Run: npx tsx bench/inventory-list.ts   (needs the test PostgreSQL; ~80 s)
// Env: BENCH_CONNECTIONS (16), BENCH_SECONDS (3 per round), BENCH_ROUNDS (5, alternating).
import { Worker } from 'node:worker_threads';
import Fastify from 'fastify';
import { sql } from 'kysely';
import pg from 'pg';
import { uniqueName } from '../test/support/env.ts';
import { startInventory } from '../test/support/inventory.ts';
import { benchMain, dropDatabase, emit, note, onCleanup } from './support.ts';

const VMS = 10_000;
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

// The load runs in its own thread so it does not share the servers' event loop.
const LOADGEN = `
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
const { url, headers, seconds, connections } = workerData;
const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
let done = 0, failed = 0, bytes = 0;
const end = Date.now() + seconds * 1000;
function one() {
  return new Promise((resolve) => {
    const req = http.get(url, { agent, headers }, (res) => {
      let n = 0;
      res.on('data', (c) => (n += c.length));
      res.on('end', () => { if (res.statusCode === 200) { done++; bytes += n; } else failed++; resolve(); });
    });
    req.on('error', () => { failed++; resolve(); });
  });
}
async function loop() { while (Date.now() < end) await one(); }
const start = Date.now();
Promise.all(Array.from({ length: connections }, loop)).then(() => {
  agent.destroy();
  parentPort.postMessage({ rps: done / ((Date.now() - start) / 1000), failed, bytes: done ? bytes / done : 0 });
});
`;

function load(
  url: string,
  headers: Record<string, string>,
  seconds: number,
): Promise<{ rps: number; failed: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(LOADGEN, {
      eval: true,
      workerData: { url, headers, seconds, connections: CONNECTIONS },
    });
    w.once('message', resolve);
    w.once('error', reject);
  });
}

/** One SELECT of a page: the way anyone would write it by hand. */
const BARE_SQL = `
  SELECT v.name, v.description, v.ip, v.state, v.host, a.name AS area, t.name AS template, v.cpu, v.ram,
    coalesce((SELECT array_agg(n.name ORDER BY n.name) FROM vm_networks vn JOIN networks n ON n.id = vn.network_id
              WHERE vn.vm_id = v.id), '{}') AS networks,
    coalesce((SELECT json_agg(json_build_object('network', n.name, 'ip', vn.ip, 'mac', vn.mac) ORDER BY n.name)
              FROM vm_networks vn JOIN networks n ON n.id = vn.network_id WHERE vn.vm_id = v.id), '[]') AS interfaces,
    v.security_groups, v.affinity_group
  FROM vms v JOIN areas a ON a.id = v.area_id JOIN templates t ON t.id = v.template_id
  WHERE v.workspace_id = $1 ORDER BY v.name LIMIT $2`;

await benchMain(async () => {
  const inv = await startInventory('postgres');
  const dbUrl = inv.config.INVENTORY_DB!;
  onCleanup('inventory database', () => dropDatabase(dbUrl));
  onCleanup('inventory', () => inv.close());

  // 10,000 VMs, each on one of four networks, written straight into the inventory's tables.
  const admin = await inv.adminToken();
  const ownerName = uniqueName('owner');
  const owner = await inv.user(ownerName);
  const ws = uniqueName('bench');
  await inv.call('POST', '/workspaces/', owner, { name: ws });
  await inv.call('POST', '/areas/', admin, { name: 'bench-area', subnet: '10.99.0.0/16' });
  await inv.call('POST', '/templates/', admin, { name: 'bench-tpl', cpu: 1, ram: 1, disk: 10 });
  const db = inv.inventory.database.db;
  const w = await db.selectFrom('workspaces').select('id').where('name', '=', ws).executeTakeFirstOrThrow();
  const area = await db
    .selectFrom('areas')
    .select('id')
    .where('name', '=', 'bench-area')
    .executeTakeFirstOrThrow();
  const tpl = await db
    .selectFrom('templates')
    .select('id')
    .where('name', '=', 'bench-tpl')
    .executeTakeFirstOrThrow();
  const nets = await db
    .insertInto('networks')
    .values(
      [0, 1, 2, 3].map((i) => ({
        workspace_id: w.id,
        name: `net-${i}`,
        description: '',
        state: 'U' as const,
        vlan: 100 + i,
        subnet: null,
      })),
    )
    .returning('id')
    .execute();
  for (let from = 0; from < VMS; from += 2000) {
    const vms = await db
      .insertInto('vms')
      .values(
        Array.from({ length: Math.min(2000, VMS - from) }, (_, j) => {
          const i = from + j;
          return {
            workspace_id: w.id,
            name: `vm-${String(i).padStart(5, '0')}`,
            description: `bench vm ${i}`,
            ip: `10.99.${i >> 8}.${i & 255}`,
            state: 'U' as const,
            area_id: area.id,
            template_id: tpl.id,
            cpu: 1,
            ram: 1,
            host: `kvm${i % 4}`,
          };
        }),
      )
      .returning('id')
      .execute();
    await db
      .insertInto('vm_networks')
      .values(vms.map((v, j) => ({ vm_id: v.id, network_id: nets[(from + j) % 4].id, ip: null, mac: null })))
      .execute();
  }
  await sql`ANALYZE`.execute(db); // fresh statistics, as autovacuum would give

  const pool = new pg.Pool({ connectionString: dbUrl, max: 10 });
  onCleanup('bare pool', () => pool.end());
  const bare = Fastify({ logger: false });
  onCleanup('bare server', () => bare.close());
  bare.get<{ Querystring: { limit?: string } }>('/:ws/vms/', async (req, reply) => {
    const limit = Math.min(Math.max(Number(req.query.limit ?? 100), 1), 1000);
    const { rows } = await pool.query(BARE_SQL, [w.id, limit]);
    return reply.type('application/json').send(JSON.stringify({ vms: rows }));
  });
  await bare.listen({ host: '127.0.0.1', port: 0 });
  const barePort = (bare.server.address() as { port: number }).port;
  const auth = { token: owner };

  for (const limit of [100, 1000]) {
    const query = limit === 100 ? '' : `?limit=${limit}`;
    const bareUrl = `http://127.0.0.1:${barePort}/${ws}/vms/${query}`;
    const kloudakUrl = `${inv.url}/${ws}/vms/${query}`;
    // Same answer from both, or the comparison means nothing.
    const a = (await (await fetch(kloudakUrl, { headers: auth })).json()) as { vms: unknown[] };
    const b = (await (await fetch(bareUrl)).json()) as { vms: unknown[] };
    if (a.vms.length !== limit || JSON.stringify(a) !== JSON.stringify(b))
      throw new Error(`answers differ: ${a.vms.length} vs ${b.vms.length} VMs`);
    note(`page of ${limit}: warm-up, then ${ROUNDS} alternating rounds of ${SECONDS} s`);
    await load(bareUrl, {}, 1);
    await load(kloudakUrl, auth, 1);
    const k: number[] = [];
    const base: number[] = [];
    let failed = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const rb = await load(bareUrl, {}, SECONDS);
      const rk = await load(kloudakUrl, auth, SECONDS);
      base.push(rb.rps);
      k.push(rk.rps);
      failed += rb.failed + rk.failed;
    }
    if (failed) throw new Error(`${failed} requests failed`);
    emit({
      figure: `GET /<ws>/vms/${query}, ${limit === 100 ? 'the default page (100)' : 'a page of 1,000'}, ${VMS.toLocaleString('en-US')} VMs in the workspace, PostgreSQL, ${CONNECTIONS} connections, vs one bare SELECT + JSON.stringify`,
      samples: k,
      baselineSamples: base,
      unit: 'requests/s',
      ...(limit === 100 ? { target: '>= 0.7' } : {}),
      answer_bytes: JSON.stringify(a).length,
    });
  }
});
