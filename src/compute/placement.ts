// Where a VM goes. The rule (docs/operations.md): among the area's hosts that are up and have the memory and
// CPU left, the one with the most free memory; among the area's pools with the space left, the one with the
// most free space. Until the monitoring service answers placement RPCs, compute decides from its own records.
import type { Kysely } from 'kysely';
import { conflict, isAppError } from '../lib/errors.ts';
import type { ComputeDB } from './schema.ts';

export interface HostRequest {
  area: string;
  memoryMib: number;
  vcpus: number;
  /** Hosts not to use (a failed host when restarting its VMs). */
  exclude?: string[];
  /** The domain it is for (monitoring keeps its room reserved until it sees the domain run). */
  domain?: string;
}

/** A resize: can the VM's host give it `memoryMib` and `vcpus` instead of what it `held`? */
export interface RoomRequest {
  area: string;
  host: string;
  memoryMib: number;
  vcpus: number;
  held: { memoryMib: number; vcpus: number; running: boolean };
}

export interface Placement {
  host(r: HostRequest): Promise<string>;
  pool(r: { area: string; sizeGib: number }): Promise<string>;
  /** Resolves when the host has the room; throws a conflict naming what lacks. */
  room(r: RoomRequest): Promise<void>;
}

/** CPUs are shared: a host takes up to this many vCPUs per physical CPU. */
export const CPU_OVERCOMMIT = 4;

/** Placement that never picks a host in maintenance: they join every request's exclusions, so monitoring's
 * answer (which knows nothing of maintenance) and the local fallback both leave them out. */
export function withoutMaintenance(db: Kysely<ComputeDB>, inner: Placement): Placement {
  return {
    async host(r) {
      const drained = await db
        .selectFrom('hosts')
        .select('name')
        .where('area', '=', r.area)
        .where('maintenance', '=', true)
        .execute();
      if (!drained.length) return inner.host(r);
      return inner.host({
        ...r,
        exclude: [...new Set([...(r.exclude ?? []), ...drained.map((h) => h.name)])],
      });
    },
    pool: (r) => inner.pool(r),
    room: (r) => inner.room(r),
  };
}

/**
 * Compute's own records lag inventory by up to the catalogue's burst window (tasks within 2 s of a sync skip
 * the next one): a host or pool registered in that window would be missing. When no host or pool fits, the
 * catalogue is read again and the choice made once more, so a missing one is never the reason.
 */
export function withCatalogueRetry(inner: Placement, refresh: () => Promise<void>): Placement {
  const again = async (choose: () => Promise<string>) => {
    try {
      return await choose();
    } catch (e) {
      if (!isAppError(e) || e.kind !== 'conflict') throw e;
      await refresh();
      return choose();
    }
  };
  return {
    host: (r) => again(() => inner.host(r)),
    pool: (r) => again(() => inner.pool(r)),
    room: (r) => inner.room(r),
  };
}

/** How long a host chosen for a domain counts against it before the domain's row must exist. */
const CLAIM_MS = 60_000;

export function createLocalPlacement(db: Kysely<ComputeDB>, now: () => number = Date.now): Placement {
  // Hosts chosen for domains whose VM row does not name them yet (placeOnce writes it right after the choice):
  // they count as used, so a burst of concurrent creates spreads over the area instead of all seeing the
  // same emptiest host (monitoring's reservations do the same when it answers).
  const claims = new Map<string, { host: string; mem: number; cpu: number; at: number }>();
  return {
    async host(r) {
      const hosts = await db
        .selectFrom('hosts')
        .selectAll()
        .where('area', '=', r.area)
        .where('up', '=', true)
        .execute();
      const used = await db
        .selectFrom('vms')
        .select([
          'host',
          (eb) => eb.fn.sum<number>('memory_mib').as('mem'),
          (eb) => eb.fn.sum<number>('vcpus').as('cpu'),
        ])
        .groupBy('host')
        .execute();
      const recorded = claims.size
        ? await db
            .selectFrom('vms')
            .select(['domain', 'host'])
            .where('domain', 'in', [...claims.keys()])
            .execute()
        : [];
      // From here to the claim below nothing awaits: concurrent choices in this process see each other. A VM
      // that moves (failover, drain) has its row on the old host until it runs on the new one: its claim stays.
      for (const v of recorded) if (claims.get(v.domain)?.host === v.host) claims.delete(v.domain);
      if (r.domain) claims.delete(r.domain);
      for (const [domain, c] of claims) if (now() - c.at > CLAIM_MS) claims.delete(domain);
      const usage = new Map(used.map((u) => [u.host, { mem: Number(u.mem), cpu: Number(u.cpu) }]));
      for (const c of claims.values()) {
        const u = usage.get(c.host) ?? { mem: 0, cpu: 0 };
        usage.set(c.host, { mem: u.mem + c.mem, cpu: u.cpu + c.cpu });
      }
      const fits = hosts
        .filter((h) => !r.exclude?.includes(h.name))
        .map((h) => ({
          name: h.name,
          free: h.memory * 1024 - (usage.get(h.name)?.mem ?? 0),
          cpuLeft: h.cpus * CPU_OVERCOMMIT - (usage.get(h.name)?.cpu ?? 0),
        }))
        .filter((h) => h.free >= r.memoryMib && h.cpuLeft >= r.vcpus)
        .sort((a, b) => b.free - a.free || a.name.localeCompare(b.name));
      if (!fits[0])
        throw conflict('area', `no host in area ${r.area} has ${r.memoryMib} MiB and ${r.vcpus} vCPU free`);
      if (r.domain) claims.set(r.domain, { host: fits[0].name, mem: r.memoryMib, cpu: r.vcpus, at: now() });
      return fits[0].name;
    },
    async room(r) {
      const h = await db.selectFrom('hosts').selectAll().where('name', '=', r.host).executeTakeFirst();
      if (!h) throw conflict('name', `host ${r.host} is not known to compute`);
      const used = await db
        .selectFrom('vms')
        .select([
          (eb) => eb.fn.sum<number>('memory_mib').as('mem'),
          (eb) => eb.fn.sum<number>('vcpus').as('cpu'),
        ])
        .where('host', '=', r.host)
        .executeTakeFirst();
      // Every VM of the host counts here, the resized one (at its old size) too.
      const free = h.memory * 1024 - Number(used?.mem ?? 0) + r.held.memoryMib;
      const cpuLeft = h.cpus * CPU_OVERCOMMIT - Number(used?.cpu ?? 0) + r.held.vcpus;
      if (r.memoryMib > free)
        throw conflict(
          'update_dict.ram',
          `host ${r.host} has ${Math.floor(free)} MiB for it, not ${r.memoryMib}`,
        );
      if (r.vcpus > cpuLeft)
        throw conflict('update_dict.cpu', `host ${r.host} has ${cpuLeft} vCPU for it, not ${r.vcpus}`);
    },
    async pool(r) {
      const pools = await db.selectFrom('pools').selectAll().where('area', '=', r.area).execute();
      const used = await db
        .selectFrom('vms')
        .select(['pool', (eb) => eb.fn.sum<number>('disk_gib').as('disk')])
        .groupBy('pool')
        .execute();
      const usage = new Map(used.map((u) => [u.pool, Number(u.disk)]));
      const fits = pools
        .map((p) => ({ name: p.name, free: p.size - (usage.get(p.name) ?? 0) }))
        .filter((p) => p.free >= r.sizeGib)
        .sort((a, b) => b.free - a.free || a.name.localeCompare(b.name));
      if (!fits[0]) throw conflict('area', `no pool in area ${r.area} has ${r.sizeGib} GiB free`);
      return fits[0].name;
    },
  };
}
