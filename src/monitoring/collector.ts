// A monitoring worker's share of one cycle: check each host it was given (libvirt through the probe), keep
// the host's current figures and a sample of its and its running VMs' usage, count failed checks, and mark
// a host down (publishing `host_failure` once) when its lease ran out (src/monitoring/watch.ts) or it failed
// HOST_FAILURE_CHECKS checks in a row, unless its guests still answer on the public network (confirm.ts);
// up again (publishing `host_up`) at its first good check after that. Pools: size and free space.
import type { Kysely } from 'kysely';
import type { Bus } from '../lib/bus/bus.ts';
import {
  QUEUES,
  type HostWork,
  type MonitorReport,
  type MonitorWork,
  type PoolWork,
} from '../lib/contracts/messages.ts';
import type { Logger } from '../lib/log.ts';
import { createFailureDecider, type ConfirmOptions } from './failure.ts';
import type { HostFacts, HostProbe } from './probe.ts';
import type { MonitorDB } from './schema.ts';
import { createWatch } from './watch.ts';

export interface CollectorOptions {
  member: string;
  db: Kysely<MonitorDB>;
  bus: Bus;
  probe: HostProbe;
  log: Logger;
  failureChecks: number;
  timeoutMs: number;
  concurrency: number;
  /** Heartbeats and leases; none when heartbeatMs is 0. */
  heartbeatMs: number;
  leaseMs: number;
  ownershipMs: number;
  /** The second path; without it a silent host's checks alone decide. */
  confirm?: ConfirmOptions;
}

/** Runs fn over items with at most `limit` at once. */
export async function eachLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]);
  });
  await Promise.all(lanes);
}

/**
 * Publishes a host's up/down change when it has not been published yet, then records that it was. Called by
 * the worker that made the change and, for changes left unpublished (a crash, the bus down), by the leader.
 */
export async function announce(
  db: Kysely<MonitorDB>,
  bus: Bus,
  log: Logger,
  host: { name: string; area: string; up: boolean; changed_at: Date },
): Promise<void> {
  const body = { host: host.name, area: host.area, at: new Date(host.changed_at).toISOString() };
  await bus.publish(host.up ? QUEUES.hostUp : QUEUES.hostFailure, body);
  await db
    .updateTable('hosts')
    .set({ notified: true })
    .where('name', '=', host.name)
    .where('up', '=', host.up)
    .execute();
  log.warn(
    { host: host.name, area: host.area },
    host.up ? 'host up again: host_up published' : 'host down: host_failure published',
  );
}

function busyFraction(prev: Record<string, number> | null, now: HostFacts['cpuTimes']): number | null {
  if (!prev || !now) return null;
  const busy = now.user + now.system - (prev.user + prev.system);
  const all = busy + now.idle + now.iowait - (prev.idle + prev.iowait);
  return all > 0 && busy >= 0 ? Math.min(1, busy / all) : null;
}

export function createCollector(o: CollectorOptions) {
  const { db, log } = o;
  const poolsInFlight = new Set<string>();
  const background = new Set<Promise<void>>();

  async function seen(h: HostWork, f: HostFacts, at: Date): Promise<void> {
    const prev = await db
      .selectFrom('hosts')
      .select(['up', 'cpu_prev'])
      .where('name', '=', h.name)
      .executeTakeFirst();
    if (!prev) return; // removed from inventory meanwhile
    const allocMib = f.domains.reduce((s, d) => s + d.maxMemoryKib / 1024, 0);
    const allocVcpus = f.domains.reduce((s, d) => s + d.vcpus, 0);
    const cpuBusy = busyFraction(prev.cpu_prev, f.cpuTimes);
    await db
      .updateTable('hosts')
      .set({
        failures: 0,
        checked_at: at,
        seen_at: at,
        last_error: null,
        cpus: f.cpus,
        memory_mib: f.memoryMib,
        free_mib: f.freeMib,
        alloc_mib: allocMib,
        alloc_vcpus: allocVcpus,
        running: f.domains.length,
        cpu_busy: cpuBusy,
        cpu_prev: f.cpuTimes ? JSON.stringify(f.cpuTimes) : null,
      })
      .where('name', '=', h.name)
      .execute();
    await db
      .insertInto('host_samples')
      .values({
        host: h.name,
        at,
        free_mib: f.freeMib,
        alloc_mib: allocMib,
        alloc_vcpus: allocVcpus,
        running: f.domains.length,
        cpu_busy: cpuBusy,
      })
      .execute();
    if (f.domains.length) {
      // A reserved domain now running is in alloc_mib: its reservation would count it a second time.
      await db
        .deleteFrom('reservations')
        .where('host', '=', h.name)
        .where(
          'domain',
          'in',
          f.domains.map((d) => d.name),
        )
        .execute();
      await db
        .insertInto('vm_samples')
        .values(
          f.domains.map((d) => {
            const slash = d.title?.indexOf('/') ?? -1;
            return {
              domain: d.name,
              workspace: slash > 0 ? d.title!.slice(0, slash) : null,
              vm: slash > 0 ? d.title!.slice(slash + 1) : null,
              host: h.name,
              at,
              cpu_time_ns: d.cpuTimeNs,
              cpu_user_ns: d.cpuUserNs,
              cpu_system_ns: d.cpuSystemNs,
              memory_kib: d.memoryKib,
              rss_kib: d.rssKib ?? null,
              vcpus: d.vcpus,
            };
          }),
        )
        .execute();
    }
    if (!prev.up) {
      // Only the one who flips the flag announces: two workers seeing the same host cannot both publish.
      const flipped = await db
        .updateTable('hosts')
        .set({ up: true, notified: false, changed_at: at })
        .where('name', '=', h.name)
        .where('up', '=', false)
        .returning(['name', 'area', 'up', 'changed_at'])
        .executeTakeFirst();
      if (flipped)
        await announce(db, o.bus, log, flipped).catch((e) =>
          log.warn({ err: e, host: h.name }, 'host_up not published yet; the leader will retry'),
        );
    }
  }

  const decider = createFailureDecider({
    db,
    bus: o.bus,
    log,
    failureChecks: o.failureChecks,
    confirm: o.confirm,
  });
  const failed = decider.failed;
  const watch = createWatch({
    probe: o.probe,
    log,
    heartbeatMs: o.heartbeatMs,
    leaseMs: o.leaseMs,
    ownershipMs: o.ownershipMs,
    expired: decider.expired,
  });

  async function checkHost(h: HostWork): Promise<boolean> {
    const at = new Date();
    let facts: HostFacts;
    try {
      // A probe that has to (re)connect tests the endpoint with a short bound first: a host cut off fails
      // its check in seconds, not at the collection's timeout.
      facts = await o.probe.host(h.libvirt_uri, o.timeoutMs);
    } catch (e) {
      await failed(h, e, at);
      return false;
    }
    watch.answered(h.name);
    await seen(h, facts, at);
    return true;
  }

  async function checkPool(p: PoolWork): Promise<void> {
    const at = new Date();
    try {
      const f = await o.probe.pool(p.via, p.path, o.timeoutMs);
      await db
        .updateTable('pools')
        .set({
          checked_at: at,
          last_error: null,
          fs_size_gib: f.fsSizeGib,
          fs_free_gib: f.fsFreeGib,
          used_gib: f.usedGib,
        })
        .where('name', '=', p.name)
        .execute();
      await db
        .insertInto('pool_samples')
        .values({ pool: p.name, at, fs_free_gib: f.fsFreeGib, used_gib: f.usedGib })
        .execute();
    } catch (e) {
      log.warn({ pool: p.name, via: p.via, err: (e as Error).message }, 'pool check failed');
      await db
        .updateTable('pools')
        .set({ checked_at: at, last_error: (e as Error).message.slice(0, 500) })
        .where('name', '=', p.name)
        .execute();
    }
  }

  return {
    /** Resolves when the pool reads still running in the background are done. */
    idle: async () => void (await Promise.all([...background])),
    /** Stops heartbeats; the probe's connections are closed by its owner. */
    close: () => watch.close(),
    async run(w: MonitorWork): Promise<MonitorReport> {
      const start = performance.now();
      watch.own(w.hosts);
      let failedCount = 0;
      // Pools are read in the background: a pool read through a host that just went away (an SSH session
      // hanging until its keepalive gives up) must not hold up the host checks that detect failures.
      const pools = w.pools.filter((p) => !poolsInFlight.has(p.name));
      for (const p of pools) poolsInFlight.add(p.name);
      const reading = eachLimit(pools, o.concurrency, (p) =>
        checkPool(p)
          .catch((e) => log.error({ err: e, pool: p.name }, 'recording a pool check failed'))
          .finally(() => poolsInFlight.delete(p.name)),
      );
      background.add(reading);
      void reading.finally(() => background.delete(reading));
      await eachLimit(w.hosts, o.concurrency, async (h) => {
        try {
          if (!(await checkHost(h))) failedCount++;
        } catch (e) {
          failedCount++;
          log.error({ err: e, host: h.name }, 'recording a host check failed');
        }
      });
      return {
        member: o.member,
        hosts: w.hosts.length,
        failed: failedCount,
        pools: pools.length,
        ms: Math.round(performance.now() - start),
      };
    },
  };
}
