// Requests per second of an authenticated GET /<ws>/vms/ with 1,000 VMs in the workspace, on PostgreSQL,
// next to a bare fastify + pg endpoint running the same two queries (views in src/inventory/repositories/vms.ts)
// and answering the same JSON, without authentication or membership check.
// Run: npx tsx bench/inventory-list.ts   (needs the test PostgreSQL, KLOUDAK_TEST_PG; ~45 s)
// Prints one JSON line: {figure, kloudak, baseline, ratio, unit}.
import { Worker } from 'node:worker_threads';
import Fastify from 'fastify';
import pg from 'pg';
import { TEST_PG, uniqueName } from '../test/support/env.ts';
import { startInventory } from '../test/support/inventory.ts';

const VMS = 1000;
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 6);

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

const inv = await startInventory('postgres');
const dbUrl = inv.config.INVENTORY_DB!;
const bare = Fastify({ logger: false });
const pool = new pg.Pool({ connectionString: dbUrl, max: 10 });
try {
  // 1,000 VMs, each on one of four networks, written straight into the inventory's tables.
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
        state: 'U',
        vlan: 100 + i,
        subnet: null,
      })),
    )
    .returning('id')
    .execute();
  const vms = await db
    .insertInto('vms')
    .values(
      Array.from({ length: VMS }, (_, i) => ({
        workspace_id: w.id,
        name: `vm-${String(i).padStart(4, '0')}`,
        description: `bench vm ${i}`,
        ip: `10.99.${i >> 8}.${(i & 255) + 0}`,
        state: 'U',
        area_id: area.id,
        template_id: tpl.id,
        cpu: 1,
        ram: 0.125,
        host: `kvm${i % 4}`,
      })),
    )
    .returning('id')
    .execute();
  await db
    .insertInto('vm_networks')
    .values(vms.map((v, i) => ({ vm_id: v.id, network_id: nets[i % 4]?.id ?? 0, ip: null, mac: null })))
    .execute();

  // The bare endpoint: the same two queries vmViews sends (the second with one parameter per VM, as Kysely
  // compiles an IN list), the same JSON shape, no token, no membership lookup.
  bare.get<{ Params: { ws: string } }>('/:ws/vms/', async () => {
    const { rows: list } = await pool.query<{
      id: number;
      name: string;
      description: string;
      ip: string | null;
      state: string;
      host: string | null;
      cpu: number;
      ram: number;
      area: string;
      template: string;
    }>(
      `select "vms"."id", "vms"."name", "vms"."description", "vms"."ip", "vms"."state", "vms"."host", "vms"."cpu", "vms"."ram", "areas"."name" as "area", "templates"."name" as "template"
       from "vms" inner join "areas" on "areas"."id" = "vms"."area_id" inner join "templates" on "templates"."id" = "vms"."template_id"
       where "vms"."workspace_id" = $1 order by "vms"."name" limit $2`,
      [w.id, 1000],
    );
    if (!list.length) return { vms: [] };
    const ids = list.map((v) => v.id);
    const { rows: links } = await pool.query<{
      vm_id: number;
      network: string;
      ip: string | null;
      mac: string | null;
    }>(
      `select "vm_networks"."vm_id", "networks"."name" as "network", "vm_networks"."ip", "vm_networks"."mac"
       from "vm_networks" inner join "networks" on "networks"."id" = "vm_networks"."network_id"
       where "vm_networks"."vm_id" in (${ids.map((_, i) => `$${i + 1}`).join(', ')}) order by "networks"."name"`,
      ids,
    );
    return {
      vms: list.map(({ id, ...v }) => {
        const mine = links.filter((n) => n.vm_id === id);
        return {
          ...v,
          networks: mine.map((n) => n.network),
          interfaces: mine.map(({ network, ip, mac }) => ({ network, ip, mac })),
        };
      }),
    };
  });
  await bare.listen({ host: '127.0.0.1', port: 0 });
  const bareUrl = `http://127.0.0.1:${(bare.server.address() as { port: number }).port}/${ws}/vms/`;
  const kloudakUrl = `${inv.url}/${ws}/vms/`;
  const auth = { token: owner };

  // Same answer from both, or the comparison means nothing.
  const a = (await (await fetch(kloudakUrl, { headers: auth })).json()) as { vms: unknown[] };
  const b = (await (await fetch(bareUrl)).json()) as { vms: unknown[] };
  if (a.vms.length !== VMS || JSON.stringify(a) !== JSON.stringify(b))
    throw new Error(`answers differ: ${a.vms.length} vs ${b.vms.length} VMs`);

  await load(bareUrl, {}, 2);
  await load(kloudakUrl, auth, 2);
  const k: number[] = [];
  const base: number[] = [];
  let failed = 0;
  for (let round = 0; round < 2; round++) {
    const rb = await load(bareUrl, {}, SECONDS);
    const rk = await load(kloudakUrl, auth, SECONDS);
    base.push(rb.rps);
    k.push(rk.rps);
    failed += rb.failed + rk.failed;
  }
  if (failed) throw new Error(`${failed} requests failed`);
  const kb = Math.max(...k);
  const bb = Math.max(...base);
  console.log(
    JSON.stringify({
      figure: `GET /<ws>/vms/ with ${VMS} VMs on PostgreSQL, ${CONNECTIONS} connections`,
      kloudak: Number(kb.toFixed(1)),
      baseline: Number(bb.toFixed(1)),
      ratio: Number((kb / bb).toFixed(3)),
      unit: 'requests/s',
      answer_bytes: JSON.stringify(a).length,
    }),
  );
} finally {
  await bare.close();
  await pool.end();
  await inv.close();
  // The harness makes a fresh database per start; drop the bench's.
  const name = new URL(dbUrl).pathname.slice(1);
  const admin = new pg.Client({ connectionString: `${TEST_PG}/postgres` });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${name}"`).catch(() => undefined);
  await admin.end();
}
