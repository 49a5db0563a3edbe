// The fixed dataset the hardening tests attack: two workspaces (A with an owner holding every permission and a
// member holding none; B of an outsider), the catalogue (template, area, host, pool), networks, a router with
// an interface, VMs, a few pending controller tasks, and a monitoring stats API with samples of both
// workspaces' VMs. Plus helpers to fingerprint everything stored, to tell whether a request changed anything.
import { createPublicKey } from 'node:crypto';
import { join } from 'node:path';
import { sql, type Kysely } from 'kysely';
import { createTokenVerifier } from '../../src/lib/auth.ts';
import { inventoryAuthority } from '../../src/lib/authority.ts';
import { openDatabase } from '../../src/lib/db.ts';
import { listen } from '../../src/lib/http.ts';
import { createLogger, type Logger } from '../../src/lib/log.ts';
import { monitorMigrations, type MonitorDB } from '../../src/monitoring/schema.ts';
import { createStatsApp } from '../../src/monitoring/stats.ts';
import { uniqueName } from '../support/env.ts';
import { until, type TestPlatform } from '../support/platform.ts';
import { inventoryKey } from '../support/tokens.ts';

export interface Dataset {
  A: string;
  B: string;
  template: string;
  area: string;
  host: string;
  pool: string;
  n1: string;
  n2: string;
  r1: string;
  v1: string;
  v2: string;
  nB: string;
  rB: string;
  vB: string;
  ownerName: string;
  weakName: string;
  outsiderName: string;
  tokens: { admin: string; service: string; owner: string; weak: string; outsider: string };
  /** Pending controller tasks of workspace A, and of B. */
  tasksA: string[];
  tasksB: string[];
  /** Names that only workspace B holds: no answer about A (or to a member of A) may contain them. */
  foreign: string[];
}

async function must(what: string, r: Promise<{ status: number; body: unknown }>): Promise<any> {
  const a = await r;
  if (a.status >= 300) throw new Error(`fixture ${what}: ${a.status} ${JSON.stringify(a.body)}`);
  return a.body;
}

export async function seedDataset(p: TestPlatform): Promise<Dataset> {
  const inv = p.inv;
  const d = {
    A: uniqueName('wsa'),
    B: uniqueName('wsb'),
    template: uniqueName('tpl'),
    area: uniqueName('area'),
    host: uniqueName('host'),
    pool: uniqueName('pool'),
    n1: uniqueName('net'),
    n2: uniqueName('net'),
    r1: uniqueName('rt'),
    v1: uniqueName('vm'),
    v2: uniqueName('vm'),
    nB: uniqueName('leaknet'),
    rB: uniqueName('leakrt'),
    vB: uniqueName('leakvm'),
    ownerName: uniqueName('owner'),
    weakName: uniqueName('weak'),
    outsiderName: uniqueName('outsider'),
  };
  const admin = await inv.adminToken();
  const service = await inv.serviceToken('controller');
  let owner = await inv.user(d.ownerName);
  await inv.user(d.weakName);
  let outsider = await inv.user(d.outsiderName);
  await must('workspace A', inv.call('POST', '/workspaces/', owner, { name: d.A }));
  await inv.addMember(d.A, owner, d.weakName);
  await must('workspace B', inv.call('POST', '/workspaces/', outsider, { name: d.B }));
  owner = await inv.login(d.ownerName);
  const weak = await inv.login(d.weakName);
  outsider = await inv.login(d.outsiderName);

  await must(
    'template',
    inv.call('POST', '/templates/', admin, { name: d.template, os: 'debian', cpu: 1, ram: 0.5, disk: 4 }),
  );
  await must('area', inv.call('POST', '/areas/', admin, { name: d.area, subnet: '10.77.0.0/24' }));
  await must(
    'host',
    inv.call('POST', '/hosts/', admin, {
      name: d.host,
      address: '10.77.0.9',
      libvirt_uri: 'qemu+ssh://root@10.77.0.9/system',
      area: d.area,
      cpus: 4,
      memory: 8,
    }),
  );
  await must(
    'pool',
    inv.call('POST', '/pools/', admin, { name: d.pool, path: '/srv/kloudak-pool', area: d.area, size: 100 }),
  );

  const svc = (what: string, method: string, path: string, body?: unknown) =>
    must(what, inv.call(method, path, service, body));
  await svc('n1', 'POST', `/${d.A}/networks/`, { name: d.n1, subnet: '172.20.1.0/24', vlan: 101 });
  await svc('n2', 'POST', `/${d.A}/networks/`, { name: d.n2, vlan: 102 });
  await svc('r1', 'POST', `/${d.A}/routers/`, { name: d.r1 });
  await svc('interface', 'POST', `/${d.A}/routers/${d.r1}/interfaces/`, { network: d.n1, ip: '172.20.1.1' });
  await svc('v1', 'POST', `/${d.A}/vms/`, {
    name: d.v1,
    area: d.area,
    template: d.template,
    networks: [d.n1],
  });
  await svc('v2', 'POST', `/${d.A}/vms/`, { name: d.v2, area: d.area, template: d.template });
  await svc('nB', 'POST', `/${d.B}/networks/`, { name: d.nB, vlan: 201 });
  await svc('rB', 'POST', `/${d.B}/routers/`, { name: d.rB });
  await svc('vB', 'POST', `/${d.B}/vms/`, {
    name: d.vB,
    area: d.area,
    template: d.template,
    networks: [d.nB],
  });

  // Pending tasks (no worker runs): they show in the task lists and keep their objects busy.
  const tasksA: string[] = [];
  const tasksB: string[] = [];
  const foreign = [d.B, d.nB, d.rB, d.vB];
  for (const [ws, token, path, name, into] of [
    [d.A, owner, '/networks/', uniqueName('tnet'), tasksA],
    [d.A, owner, '/routers/', uniqueName('trt'), tasksA],
    [d.B, outsider, '/networks/', uniqueName('leaktnet'), tasksB],
  ] as const) {
    const r = await p.call('POST', path, token, { owner: ws, name });
    if (r.status !== 202) throw new Error(`fixture task: ${r.status} ${JSON.stringify(r.body)}`);
    into.push(r.body.task_id as string);
    if (ws === d.B) foreign.push(name);
  }
  await outboxDrained(p);
  return {
    ...d,
    tokens: { admin, service, owner, weak, outsider },
    tasksA,
    tasksB,
    foreign,
  };
}

/** Waits until the controller's relay has published every accepted task (so the store is at rest). */
export async function outboxDrained(p: TestPlatform): Promise<void> {
  await until('outbox drained', async () => {
    const row = await p.controller.database.db
      .selectFrom('outbox')
      .select((e) => e.fn.countAll<number>().as('n'))
      .where('published_at', 'is', null)
      .executeTakeFirstOrThrow();
    return Number(row.n) === 0 ? true : undefined;
  });
}

const unions = new WeakMap<Kysely<any>, string>();

/** A fingerprint of every row of every table of a database (one query): table -> "<rows>:<md5>". Failed logins
 * are left out: counting a refused login is the point of the login throttle. */
export async function digest(db: Kysely<any>): Promise<Record<string, string>> {
  let q = unions.get(db);
  if (!q) {
    const tables = await sql<{ name: string }>`select table_name as name from information_schema.tables
      where table_schema = 'public' and table_type = 'BASE TABLE' and table_name not like 'kysely_%'
      and table_name <> 'login_throttle' order by 1`.execute(db);
    q = tables.rows
      .map(({ name }) => {
        const t = `"${name.replace(/"/g, '""')}"`;
        return `select '${name.replace(/'/g, "''")}' as t, count(*)::int as n, md5(coalesce(string_agg(row_to_json(x)::text, '|' order by row_to_json(x)::text), '')) as h from ${t} x`;
      })
      .join(' union all ');
    unions.set(db, q);
  }
  const r = await sql<{ t: string; n: number; h: string }>`${sql.raw(q)}`.execute(db);
  return Object.fromEntries(r.rows.map((x) => [x.t, `${x.n}:${x.h}`]));
}

export interface Stats {
  url: string;
  db: Kysely<MonitorDB>;
  close(): Promise<void>;
}

/** The monitoring stats API on its own PGlite database, verifying the platform's tokens, with samples of A's and B's VMs. */
export async function startStats(
  p: TestPlatform,
  d: Dataset,
  log: Logger = createLogger('monitoring', 'silent'),
): Promise<Stats> {
  const database = await openDatabase<MonitorDB>({
    dir: join(p.config.DATA_DIR, 'monitoring-hardening', 'db'),
    migrations: monitorMigrations,
    log,
  });
  const db = database.db;
  const now = Date.now();
  await db
    .insertInto('hosts')
    .values({
      name: d.host,
      area: d.area,
      address: '10.77.0.9',
      libvirt_uri: 'qemu+ssh://root@10.77.0.9/system',
      reg_cpus: 4,
      reg_memory_mib: 8192,
      cpus: 4,
      memory_mib: 8192,
      free_mib: 4096,
      checked_at: new Date(now),
      seen_at: new Date(now),
    })
    .execute();
  await db
    .insertInto('pools')
    .values({
      name: d.pool,
      area: d.area,
      path: '/srv/kloudak-pool',
      reg_size_gib: 100,
      fs_size_gib: 100,
      fs_free_gib: 60,
      used_gib: 40,
      checked_at: new Date(now),
    })
    .execute();
  for (let i = 0; i < 3; i++) {
    const at = new Date(now - (3 - i) * 60_000);
    await db
      .insertInto('host_samples')
      .values({
        host: d.host,
        at,
        free_mib: 4096,
        alloc_mib: 1024,
        alloc_vcpus: 2,
        running: 2,
        cpu_busy: 0.1,
      })
      .execute();
    await db.insertInto('pool_samples').values({ pool: d.pool, at, fs_free_gib: 60, used_gib: 40 }).execute();
    for (const [ws, vm] of [
      [d.A, d.v1],
      [d.A, d.v2],
      [d.B, d.vB],
    ] as const)
      await db
        .insertInto('vm_samples')
        .values({
          domain: `kloudak-${ws}-${vm}`,
          workspace: ws,
          vm,
          host: d.host,
          at,
          cpu_time_ns: 1e9 * (i + 1),
          cpu_user_ns: 5e8 * (i + 1),
          cpu_system_ns: 1e8 * (i + 1),
          memory_kib: 524288,
          rss_kib: 200000,
          vcpus: 1,
        })
        .execute();
  }
  const verifier = createTokenVerifier(createPublicKey(inventoryKey(p.inv.config)));
  const auth = inventoryAuthority({
    config: { ...p.inv.config, INVENTORY_URL: p.inv.url },
    log,
    token: () => p.inv.serviceToken('monitoring'),
    verifier,
  });
  const app = await createStatsApp({ db, auth, log });
  const port = await listen(app, '127.0.0.1', 0);
  return {
    url: `http://127.0.0.1:${port}`,
    db,
    close: async () => {
      await app.close();
      auth.close();
      await database.close();
    },
  };
}
