// Compute's cached view of the catalogue (areas, hosts, pools, templates): read from inventory, the one
// place admins register them, and refreshed periodically and whenever a name is missing.
import type { Kysely } from 'kysely';
import { callJson, expectOk } from '../lib/httpclient.ts';
import type { ComputeDB } from './schema.ts';


export function createCatalogue(db: Kysely<ComputeDB>, inventoryUrl: string, token: () => Promise<string>) {
  const list = async (kind: string) => {
    const a = await callJson(`GET`, `${inventoryUrl}/${kind}/?limit=1000`, { token: await token(), timeout: 10 });
    return expectOk(a, `inventory ${kind}`)[kind] as Record<string, any>[];
  };
  const refresh = async () => {
    const [hosts, pools, areas, templates] = await Promise.all([list('hosts'), list('pools'), list('areas'), list('templates')]);
    await db.transaction().execute(async (tx) => {
      // Host liveness ('up') is compute's and monitoring's knowledge, not inventory's: keep it across refreshes.
      const known = new Map((await tx.selectFrom('hosts').select(['name', 'up']).execute()).map((h) => [h.name, h.up]));
      await tx.deleteFrom('hosts').execute();
      await tx.deleteFrom('pools').execute();
      await tx.deleteFrom('areas').execute();
      await tx.deleteFrom('templates').execute();
      if (hosts.length)
        await tx
          .insertInto('hosts')
          .values(hosts.map((h) => ({ name: h.name, address: h.address, libvirt_uri: h.libvirt_uri, area: h.area, cpus: h.cpus, memory: h.memory, domain_type: h.domain_type, up: known.get(h.name) ?? true })))
          .execute();
      if (pools.length) await tx.insertInto('pools').values(pools.map((p) => ({ name: p.name, path: p.path, area: p.area, size: p.size }))).execute();
      if (areas.length) await tx.insertInto('areas').values(areas.map((a) => ({ name: a.name, subnet: a.subnet, gateway: a.gateway }))).execute();
      if (templates.length) await tx.insertInto('templates').values(templates.map((t) => ({ name: t.name, spec: JSON.stringify(t) }))).execute();
    });
  };
  const withRefresh = async <T>(get: () => Promise<T | undefined>): Promise<T | undefined> => (await get()) ?? (await refresh(), await get());
  return {
    refresh,
    host: (name: string) => withRefresh(() => db.selectFrom('hosts').selectAll().where('name', '=', name).executeTakeFirst()),
    pool: (name: string) => withRefresh(() => db.selectFrom('pools').selectAll().where('name', '=', name).executeTakeFirst()),
    hostsOf: (area: string) => db.selectFrom('hosts').selectAll().where('area', '=', area).orderBy('name').execute(),
    poolsOf: (area: string) => db.selectFrom('pools').selectAll().where('area', '=', area).orderBy('name').execute(),
  };
}

export type ComputeCatalogue = ReturnType<typeof createCatalogue>;
