// The stats API (JSON, for the dashboard): current figures and recent samples of hosts and pools (admins and
// services), and of VMs (members of the VM's workspace). Every request carries a token inventory signed.
// A VM is found by the title Kloudak gives its domain, "<workspace>/<vm>", which the collector records
// with each sample: no call to inventory or compute is needed to answer.
import type { Kysely, Selectable } from 'kysely';
import { Type } from 'typebox';
import { authenticate, requireAdmin, serviceHolds, type Authenticate, type Principal } from '../lib/auth.ts';
import { notAllowed, notFound } from '../lib/errors.ts';
import { createApp, type App } from '../lib/http.ts';
import type { Logger } from '../lib/log.ts';
import { Name } from '../lib/names.ts';
import type { MonitorDB } from './schema.ts';

const Window = Type.Object({
  minutes: Type.Optional(
    Type.String({
      pattern: '^[0-9]{1,4}$',
      description: 'samples of the last N minutes (1-1440, default 60)',
    }),
  ),
});
const MAX_POINTS = 1000;

const since = (q: { minutes?: string }) =>
  new Date(Date.now() - Math.min(1440, Math.max(1, Number(q.minutes ?? 60))) * 60_000);
const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

function requireMember(p: Principal, ws: string): void {
  if (serviceHolds(p, 'workspaces.read') || p.isAdmin) return;
  if (!p.workspaces[ws]) throw notAllowed(`not a member of workspace ${ws}`, 'workspace');
}

/** CPU use between consecutive samples of one VM: fraction of its vCPUs busy (0..1). */
function withCpu<T extends { at: Date; cpu_time_ns: number; vcpus: number; domain: string }>(
  rows: T[],
): (T & { cpu: number | null })[] {
  return rows.map((r, i) => {
    const prev = rows[i - 1];
    if (!prev || prev.domain !== r.domain) return { ...r, cpu: null };
    const dt = (new Date(r.at).getTime() - new Date(prev.at).getTime()) * 1e6;
    const used = r.cpu_time_ns - prev.cpu_time_ns;
    return { ...r, cpu: dt > 0 && used >= 0 ? Math.min(1, used / (dt * Math.max(1, r.vcpus))) : null };
  });
}

export async function createStatsApp(o: {
  db: Kysely<MonitorDB>;
  /** Checks tokens and answers callers' current standing (src/lib/authority.ts). */
  auth: Authenticate;
  log: Logger;
  health?: () => Promise<void>;
}): Promise<App> {
  const { db } = o;
  const app = await createApp({
    service: 'monitoring',
    log: o.log,
    description: 'Kloudak monitoring: usage of hosts, pools and VMs',
    health: o.health,
  });
  const who = (headers: Parameters<typeof authenticate>[1]) => authenticate(o.auth, headers);
  const tags = ['stats'];

  const hostView = (h: Selectable<MonitorDB['hosts']>) => ({
    name: h.name,
    area: h.area,
    up: h.up,
    failures: h.failures,
    checked_at: iso(h.checked_at),
    seen_at: iso(h.seen_at),
    last_error: h.last_error,
    cpus: h.cpus,
    memory_mib: h.memory_mib,
    free_mib: h.free_mib,
    registered: { cpus: h.reg_cpus, memory_mib: h.reg_memory_mib },
    alloc_mib: h.alloc_mib,
    alloc_vcpus: h.alloc_vcpus,
    running: h.running,
    cpu_busy: h.cpu_busy,
  });
  const poolView = (p: Selectable<MonitorDB['pools']>) => ({
    name: p.name,
    area: p.area,
    path: p.path,
    size_gib: p.reg_size_gib,
    fs_size_gib: p.fs_size_gib,
    fs_free_gib: p.fs_free_gib,
    used_gib: p.used_gib,
    checked_at: iso(p.checked_at),
    last_error: p.last_error,
  });

  app.get('/stats/hosts/', { schema: { tags } }, async (req) => {
    requireAdmin(await who(req.headers), 'catalogue.read');
    return { hosts: (await db.selectFrom('hosts').selectAll().orderBy('name').execute()).map(hostView) };
  });

  app.get(
    '/stats/hosts/:name/',
    { schema: { params: Type.Object({ name: Name('host') }), querystring: Window, tags } },
    async (req) => {
      requireAdmin(await who(req.headers), 'catalogue.read');
      const h = await db
        .selectFrom('hosts')
        .selectAll()
        .where('name', '=', req.params.name)
        .executeTakeFirst();
      if (!h) throw notFound('name', `no host ${req.params.name}`);
      const samples = await db
        .selectFrom('host_samples')
        .select(['at', 'free_mib', 'alloc_mib', 'alloc_vcpus', 'running', 'cpu_busy'])
        .where('host', '=', h.name)
        .where('at', '>=', since(req.query))
        .orderBy('at', 'desc')
        .limit(MAX_POINTS)
        .execute();
      return { host: hostView(h), samples: samples.reverse().map((s) => ({ ...s, at: iso(s.at) })) };
    },
  );

  app.get('/stats/pools/', { schema: { tags } }, async (req) => {
    requireAdmin(await who(req.headers), 'catalogue.read');
    return { pools: (await db.selectFrom('pools').selectAll().orderBy('name').execute()).map(poolView) };
  });

  app.get(
    '/stats/pools/:name/',
    { schema: { params: Type.Object({ name: Name('pool') }), querystring: Window, tags } },
    async (req) => {
      requireAdmin(await who(req.headers), 'catalogue.read');
      const p = await db
        .selectFrom('pools')
        .selectAll()
        .where('name', '=', req.params.name)
        .executeTakeFirst();
      if (!p) throw notFound('name', `no pool ${req.params.name}`);
      const samples = await db
        .selectFrom('pool_samples')
        .select(['at', 'fs_free_gib', 'used_gib'])
        .where('pool', '=', p.name)
        .where('at', '>=', since(req.query))
        .orderBy('at', 'desc')
        .limit(MAX_POINTS)
        .execute();
      return { pool: poolView(p), samples: samples.reverse().map((s) => ({ ...s, at: iso(s.at) })) };
    },
  );

  app.get(
    '/stats/vms/:ws/',
    { schema: { params: Type.Object({ ws: Name('workspace') }), tags } },
    async (req) => {
      requireMember(await who(req.headers), req.params.ws);
      // The latest sample of each VM of the workspace seen in the last ten minutes.
      const rows = await db
        .selectFrom('vm_samples')
        .selectAll()
        .where('workspace', '=', req.params.ws)
        .where('at', '>=', new Date(Date.now() - 10 * 60_000))
        .orderBy('vm')
        .orderBy('at', 'desc')
        .execute();
      const latest = new Map<string, (typeof rows)[number]>();
      for (const r of rows) if (r.vm && !latest.has(r.vm)) latest.set(r.vm, r);
      return {
        vms: [...latest.values()].map((r) => ({
          name: r.vm,
          host: r.host,
          domain: r.domain,
          at: iso(r.at),
          memory_kib: r.memory_kib,
          rss_kib: r.rss_kib,
          vcpus: r.vcpus,
          cpu_time_ns: r.cpu_time_ns,
        })),
      };
    },
  );

  app.get(
    '/stats/vms/:ws/:vm/',
    { schema: { params: Type.Object({ ws: Name('workspace'), vm: Name('vm') }), querystring: Window, tags } },
    async (req) => {
      requireMember(await who(req.headers), req.params.ws);
      const rows = await db
        .selectFrom('vm_samples')
        .selectAll()
        .where('workspace', '=', req.params.ws)
        .where('vm', '=', req.params.vm)
        .where('at', '>=', since(req.query))
        .orderBy('at', 'desc')
        .limit(MAX_POINTS)
        .execute();
      if (!rows.length) throw notFound('vm', `no recent usage of vm ${req.params.ws}/${req.params.vm}`);
      const samples = withCpu(rows.reverse());
      const last = samples[samples.length - 1];
      return {
        workspace: req.params.ws,
        name: req.params.vm,
        domain: last.domain,
        host: last.host,
        samples: samples.map((s) => ({
          at: iso(s.at),
          host: s.host,
          cpu: s.cpu,
          cpu_time_ns: s.cpu_time_ns,
          cpu_user_ns: s.cpu_user_ns,
          cpu_system_ns: s.cpu_system_ns,
          memory_kib: s.memory_kib,
          rss_kib: s.rss_kib,
          vcpus: s.vcpus,
        })),
      };
    },
  );
  return app;
}
