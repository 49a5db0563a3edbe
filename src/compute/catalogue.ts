// Compute's copy of the catalogue (areas, hosts, pools, templates), read through the shared catalogue cache
// (src/lib/catalogue.ts) and kept in compute's database beside what only compute knows (whether a host is
// up), so placement, failover and the reconciler can join on it and a compute restarted while inventory is
// unreachable still knows its hosts. Refreshed periodically and whenever a name is missing.
import type { Kysely } from 'kysely';
import type { Catalogue } from '../lib/catalogue.ts';
import type { ComputeDB } from './schema.ts';

export function createComputeCatalogue(db: Kysely<ComputeDB>, catalogue: Catalogue) {
  // Upserts, then removes what inventory no longer lists: several compute instances may refresh at once.
  // Every list is whole (read page after page), so a name missing from it is gone from inventory.
  const sync = async () => {
    const [hosts, pools, areas, templates] = await Promise.all([
      catalogue.hosts.refresh(),
      catalogue.pools.refresh(),
      catalogue.areas.refresh(),
      catalogue.templates.refresh(),
    ]);
    await db.transaction().execute(async (tx) => {
      for (const h of hosts) {
        // Host liveness ('up') is compute's and monitoring's knowledge, not inventory's: an upsert keeps it.
        const row = {
          address: h.address,
          libvirt_uri: h.libvirt_uri,
          area: h.area,
          cpus: h.cpus,
          memory: h.memory,
          domain_type: h.domain_type,
          maintenance: h.maintenance ?? false,
        };
        await tx
          .insertInto('hosts')
          .values({ name: h.name, ...row })
          .onConflict((oc) => oc.column('name').doUpdateSet(row))
          .execute();
      }
      for (const p of pools) {
        const row = { path: p.path, area: p.area, size: p.size };
        await tx
          .insertInto('pools')
          .values({ name: p.name, ...row })
          .onConflict((oc) => oc.column('name').doUpdateSet(row))
          .execute();
      }
      for (const a of areas) {
        const row = { subnet: a.subnet, gateway: a.gateway };
        await tx
          .insertInto('areas')
          .values({ name: a.name, ...row })
          .onConflict((oc) => oc.column('name').doUpdateSet(row))
          .execute();
      }
      for (const t of templates) {
        const row = { spec: JSON.stringify(t) };
        await tx
          .insertInto('templates')
          .values({ name: t.name, ...row })
          .onConflict((oc) => oc.column('name').doUpdateSet(row))
          .execute();
      }
      const prune = async (table: 'hosts' | 'pools' | 'areas' | 'templates', names: string[]) => {
        let q = tx.deleteFrom(table);
        if (names.length) q = q.where('name', 'not in', names);
        await q.execute();
      };
      await prune(
        'hosts',
        hosts.map((h) => h.name),
      );
      await prune(
        'pools',
        pools.map((p) => p.name),
      );
      await prune(
        'areas',
        areas.map((a) => a.name),
      );
      await prune(
        'templates',
        templates.map((t) => t.name),
      );
    });
    lastSync = Date.now();
  };
  let lastSync = 0;
  let pending: Promise<void> | undefined;
  const refresh = async () => {
    pending ??= sync().finally(() => (pending = undefined));
    return pending;
  };
  /** Refreshes unless it did within `maxAgeMs` (a task in a burst need not read the catalogue again). */
  const fresh = async (maxAgeMs = 2000) => {
    if (Date.now() - lastSync > maxAgeMs) await refresh();
  };
  const withRefresh = async <T>(get: () => Promise<T | undefined>): Promise<T | undefined> =>
    (await get()) ?? (await refresh(), await get());
  return {
    refresh,
    fresh,
    host: (name: string) =>
      withRefresh(() => db.selectFrom('hosts').selectAll().where('name', '=', name).executeTakeFirst()),
    pool: (name: string) =>
      withRefresh(() => db.selectFrom('pools').selectAll().where('name', '=', name).executeTakeFirst()),
    template: (name: string) =>
      withRefresh(async () => {
        const row = await db
          .selectFrom('templates')
          .select('spec')
          .where('name', '=', name)
          .executeTakeFirst();
        return row?.spec;
      }),
    hostsOf: (area: string) =>
      db.selectFrom('hosts').selectAll().where('area', '=', area).orderBy('name').execute(),
    poolsOf: (area: string) =>
      db.selectFrom('pools').selectAll().where('area', '=', area).orderBy('name').execute(),
  };
}

export type ComputeCatalogue = ReturnType<typeof createComputeCatalogue>;
