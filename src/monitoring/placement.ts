// Placement answers (RPC on `placement_host` and `placement_pool`), from the figures the workers keep
// current. The rule is docs/monitoring.md "Placement": among the area's hosts that are up, checked, and have
// the memory and vCPUs left, the one with the most free memory; among the area's pools with the space left,
// the one with the most free space. Every answer reserves what it gave for a while, so a burst of requests
// between two checks does not pile onto one host.
import type { Kysely } from 'kysely';
import type {
  HostPlacement,
  HostPlacementRequest,
  PoolPlacement,
  PoolPlacementRequest,
} from '../lib/contracts/messages.ts';
import { conflict, unavailable } from '../lib/errors.ts';
import type { MonitorDB } from './schema.ts';

/** CPUs are shared: a host takes up to this many vCPUs per physical CPU (the same figure as compute's). */
export const CPU_OVERCOMMIT = 4;

export interface HostView {
  name: string;
  up: boolean;
  /** Checked successfully at least once. */
  seen: boolean;
  /** Registered memory (MiB) VMs may use; 0 or less: the measured node memory. */
  capacityMib: number;
  /** Measured free memory of the host (MiB), when known. */
  measuredFreeMib: number | null;
  cpus: number;
  /** Running domains' memory (MiB), as the last check saw them. */
  allocMib: number;
  /** Unexpired reservations' memory (MiB): domains given this host but not seen running by a check yet. */
  reservedMib: number;
  /** Running domains' vCPUs plus the reservations'. */
  allocVcpus: number;
}

export interface HostFit {
  name: string;
  freeMib: number;
  cpuLeft: number;
}

/** Free memory and vCPUs left of one host, by the rule. */
export function hostRoom(h: HostView): HostFit {
  // The measured figure predates the reservations too (a check drops a reservation once its domain runs):
  // without them, a burst between two checks piled onto the host that measured the most free memory.
  const byRecord = h.capacityMib - h.allocMib - h.reservedMib;
  const freeMib =
    h.measuredFreeMib === null ? byRecord : Math.min(byRecord, h.measuredFreeMib - h.reservedMib);
  return { name: h.name, freeMib, cpuLeft: h.cpus * CPU_OVERCOMMIT - h.allocVcpus };
}

/** The host the rule picks, or undefined when none fits. */
export function chooseHost(
  hosts: HostView[],
  r: { memoryMib: number; vcpus: number; exclude?: string[]; only?: string[] },
): HostFit | undefined {
  return hosts
    .filter((h) => h.up && h.seen && !r.exclude?.includes(h.name) && (!r.only || r.only.includes(h.name)))
    .map(hostRoom)
    .filter((f) => f.freeMib >= r.memoryMib && f.cpuLeft >= r.vcpus)
    .sort((a, b) => b.freeMib - a.freeMib || b.cpuLeft - a.cpuLeft || a.name.localeCompare(b.name))[0];
}

export interface PoolView {
  name: string;
  seen: boolean;
  sizeGib: number;
  fsFreeGib: number | null;
  usedGib: number | null;
}

export function poolFree(p: PoolView): number {
  const byRecord = p.sizeGib - (p.usedGib ?? 0);
  return p.fsFreeGib === null ? byRecord : Math.min(byRecord, p.fsFreeGib);
}

export function choosePool(
  pools: PoolView[],
  sizeGib: number,
): { name: string; freeGib: number } | undefined {
  return pools
    .filter((p) => p.seen)
    .map((p) => ({ name: p.name, freeGib: poolFree(p) }))
    .filter((p) => p.freeGib >= sizeGib)
    .sort((a, b) => b.freeGib - a.freeGib || a.name.localeCompare(b.name))[0];
}

/** The answers to placement_host and placement_pool; the bus has checked each request against its schema. */
export interface PlacementServer {
  host(r: HostPlacementRequest): Promise<HostPlacement>;
  pool(r: PoolPlacementRequest): Promise<PoolPlacement>;
}

/** The RPC handlers; `reserveSeconds` is how long an answer's memory and vCPUs stay counted. */
export function createPlacementServer(db: Kysely<MonitorDB>, reserveSeconds: number): PlacementServer {
  return {
    async host(r) {
      return db.transaction().execute(async (tx) => {
        // Row locks on the area's hosts: concurrent placement servers answer one request at a time per area.
        const rows = await tx
          .selectFrom('hosts')
          .selectAll()
          .where('area', '=', r.area)
          .orderBy('name')
          .forUpdate()
          .execute();
        if (!rows.length) throw unavailable(`monitoring knows no host of area ${r.area} yet`);
        if (!rows.some((h) => h.seen_at))
          throw unavailable(`monitoring has not checked the hosts of area ${r.area} yet`);
        await tx.deleteFrom('reservations').where('expires_at', '<', new Date()).execute();
        const reserved = await tx
          .selectFrom('reservations')
          .select([
            'host',
            (eb) => eb.fn.sum<number>('memory_mib').as('mem'),
            (eb) => eb.fn.sum<number>('vcpus').as('cpu'),
          ])
          .where(
            'host',
            'in',
            rows.map((h) => h.name),
          )
          .groupBy('host')
          .execute();
        const res = new Map(reserved.map((x) => [x.host, { mem: Number(x.mem), cpu: Number(x.cpu) }]));
        const views: HostView[] = rows.map((h) => ({
          name: h.name,
          up: h.up,
          seen: h.seen_at !== null,
          capacityMib: h.reg_memory_mib > 0 ? h.reg_memory_mib : (h.memory_mib ?? 0),
          measuredFreeMib: h.free_mib,
          cpus: h.reg_cpus > 0 ? h.reg_cpus : (h.cpus ?? 0),
          allocMib: h.alloc_mib,
          reservedMib: res.get(h.name)?.mem ?? 0,
          allocVcpus: h.alloc_vcpus + (res.get(h.name)?.cpu ?? 0),
        }));
        const best = chooseHost(views, r);
        if (!best) {
          const down = rows.filter((h) => !h.up).map((h) => h.name);
          throw conflict(
            'area',
            `no host ${r.only ? `of ${r.only.join(', ')} ` : ''}in area ${r.area} has ${r.memoryMib} MiB and ${r.vcpus} vCPU free${down.length ? ` (down: ${down.join(', ')})` : ''}`,
          );
        }
        await tx
          .insertInto('reservations')
          .values({
            host: best.name,
            memory_mib: r.memoryMib,
            vcpus: r.vcpus,
            expires_at: new Date(Date.now() + reserveSeconds * 1000),
            domain: r.domain ?? null,
          })
          .execute();
        return { host: best.name, freeMib: best.freeMib };
      });
    },
    async pool(body) {
      const rows = await db
        .selectFrom('pools')
        .selectAll()
        .where('area', '=', body.area)
        .orderBy('name')
        .execute();
      if (!rows.length) throw unavailable(`monitoring knows no pool of area ${body.area} yet`);
      if (!rows.some((p) => p.checked_at && !p.last_error))
        throw unavailable(`monitoring has not checked the pools of area ${body.area} yet`);
      const best = choosePool(
        rows.map((p) => ({
          name: p.name,
          seen: p.fs_size_gib !== null,
          sizeGib: p.reg_size_gib > 0 ? p.reg_size_gib : (p.fs_size_gib ?? 0),
          fsFreeGib: p.fs_free_gib,
          usedGib: p.used_gib,
        })),
        body.sizeGib,
      );
      if (!best) throw conflict('area', `no pool in area ${body.area} has ${body.sizeGib} GiB free`);
      return { pool: best.name, freeGib: best.freeGib };
    },
  };
}
