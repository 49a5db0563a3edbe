// The leader's cycle: bring the host and pool lists up to date from the catalogue (inventory), split them
// evenly among the live members, hand each member its share over the bus (an RPC to `monitor.<member>`,
// answered when the share is checked), then trim old samples and publish any up/down change left unpublished.
import type { Kysely } from 'kysely';
import type { Bus } from '../lib/bus/bus.ts';
import type { Catalogue } from '../lib/catalogue.ts';
import type { Host, Pool } from '../lib/contracts/inventory.ts';
import type { Logger } from '../lib/log.ts';
import { assignEvenly, ownersOf } from './assign.ts';
import {
  monitorQueue,
  type HostWork,
  type MonitorReport,
  type MonitorWork,
  type PoolWork,
} from '../lib/contracts/messages.ts';
import { announce } from './collector.ts';
import type { Election } from './election.ts';
import type { MonitorDB } from './schema.ts';

/** Where the hosts and pools to watch are registered (inventory, or a fixed list in tests and benchmarks). */
export interface Watched {
  hosts(): Promise<Host[]>;
  pools(): Promise<Pool[]>;
}

/** Inventory's hosts and pools, through the shared catalogue cache. */
export function watchedCatalogue(catalogue: Pick<Catalogue, 'hosts' | 'pools'>): Watched {
  return { hosts: () => catalogue.hosts.all(), pools: () => catalogue.pools.all() };
}

export const workQueue = monitorQueue;
/** A member's queue outlives it by a minute at most (publisher and consumer declare it alike). */
export const WORK_QUEUE_OPTIONS = { expiresAfter: 60_000 } as const;

export interface CycleReport {
  cycle: number;
  leader: string;
  members: string[];
  /** member -> number of hosts given */
  assignment: Record<string, number>;
  hosts: number;
  pools: number;
  reports: MonitorReport[];
  /** Members that did not answer in time (their hosts went unchecked this cycle). */
  missing: string[];
  ms: number;
}

export interface LeaderOptions {
  db: Kysely<MonitorDB>;
  bus: Bus;
  election: Election;
  catalogue: Watched;
  log: Logger;
  intervalSeconds: number;
  checkTimeoutSeconds: number;
  concurrency: number;
  retentionSeconds: number;
}

export function createLeader(o: LeaderOptions) {
  const { db, log } = o;
  let cycle = 0;
  let hostOwners = new Map<string, string>();
  let poolOwners = new Map<string, string>();

  async function sync(): Promise<void> {
    let hosts: Host[];
    let pools: Pool[];
    try {
      [hosts, pools] = await Promise.all([o.catalogue.hosts(), o.catalogue.pools()]);
      // A host in maintenance is the operator's: not checked (so never reported failed), not placed on.
      hosts = hosts.filter((h) => !h.maintenance);
    } catch (e) {
      log.warn({ err: e }, 'catalogue unreachable: checking the hosts known so far');
      return;
    }
    await db.transaction().execute(async (tx) => {
      for (const h of hosts) {
        const row = {
          area: h.area,
          address: h.address,
          libvirt_uri: h.libvirt_uri,
          reg_cpus: h.cpus,
          reg_memory_mib: h.memory * 1024,
        };
        await tx
          .insertInto('hosts')
          .values({ name: h.name, ...row })
          .onConflict((oc) => oc.column('name').doUpdateSet(row))
          .execute();
      }
      let gone = tx.deleteFrom('hosts');
      if (hosts.length)
        gone = gone.where(
          'name',
          'not in',
          hosts.map((h) => h.name),
        );
      await gone.execute();
      for (const p of pools) {
        const row = { area: p.area, path: p.path, reg_size_gib: p.size };
        await tx
          .insertInto('pools')
          .values({ name: p.name, ...row })
          .onConflict((oc) => oc.column('name').doUpdateSet(row))
          .execute();
      }
      let poolsGone = tx.deleteFrom('pools');
      if (pools.length)
        poolsGone = poolsGone.where(
          'name',
          'not in',
          pools.map((p) => p.name),
        );
      await poolsGone.execute();
    });
  }

  async function housekeeping(): Promise<void> {
    const before = new Date(Date.now() - o.retentionSeconds * 1000);
    await db.deleteFrom('host_samples').where('at', '<', before).execute();
    await db.deleteFrom('pool_samples').where('at', '<', before).execute();
    await db.deleteFrom('vm_samples').where('at', '<', before).execute();
    await db.deleteFrom('reservations').where('expires_at', '<', new Date()).execute();
    // Changes whose worker could not publish them (bus down, crash between the two steps).
    const stale = await db
      .selectFrom('hosts')
      .select(['name', 'area', 'up', 'changed_at'])
      .where('notified', '=', false)
      .where('changed_at', '<', new Date(Date.now() - 10_000))
      .execute();
    for (const h of stale)
      await announce(db, o.bus, log, h).catch((e) =>
        log.warn({ err: e, host: h.name }, 'host state change still not published'),
      );
  }

  return {
    /** One cycle; resolves when every member answered or timed out. */
    async cycle(): Promise<CycleReport> {
      const start = performance.now();
      const n = ++cycle;
      await sync();
      let members = await o.election.members();
      if (!members.length) members = [o.election.id];
      const hosts = await db
        .selectFrom('hosts')
        .select(['name', 'area', 'libvirt_uri', 'address', 'up', 'seen_at', 'failures'])
        .orderBy('name')
        .execute();
      const pools = await db.selectFrom('pools').select(['name', 'area', 'path']).orderBy('name').execute();
      // A pool is read on an up host of its area (it is mounted on all of them): one whose last check passed.
      const via = new Map<string, string>();
      for (const h of hosts)
        if (h.up && h.seen_at && h.failures === 0 && !via.has(h.area)) via.set(h.area, h.address);
      for (const h of hosts) if (h.up && !via.has(h.area)) via.set(h.area, h.address);
      const checkable = pools.filter((p) => via.has(p.area));

      const hostSplit = assignEvenly(
        hosts.map((h) => h.name),
        members,
        hostOwners,
      );
      const poolSplit = assignEvenly(
        checkable.map((p) => p.name),
        members,
        poolOwners,
      );
      hostOwners = ownersOf(hostSplit);
      poolOwners = ownersOf(poolSplit);
      const hostBy = new Map(hosts.map((h) => [h.name, h]));
      const poolBy = new Map(checkable.map((p) => [p.name, p]));

      const reports: MonitorReport[] = [];
      const missing: string[] = [];
      await Promise.all(
        members.map(async (m) => {
          const work: MonitorWork = {
            cycle: n,
            leader: o.election.id,
            hosts: (hostSplit.get(m) ?? []).map((name): HostWork => {
              const h = hostBy.get(name)!;
              return { name, area: h.area, libvirt_uri: h.libvirt_uri };
            }),
            pools: (poolSplit.get(m) ?? []).map((name): PoolWork => {
              const p = poolBy.get(name)!;
              return { name, path: p.path, via: via.get(p.area)! };
            }),
          };
          if (!work.hosts.length && !work.pools.length) return;
          const rounds = Math.ceil(Math.max(work.hosts.length, work.pools.length) / o.concurrency);
          const timeout = Math.max(o.intervalSeconds, rounds * (o.checkTimeoutSeconds + 3) + 5);
          try {
            reports.push(
              await o.bus.rpc(workQueue(m), work, {
                timeout,
                ...WORK_QUEUE_OPTIONS,
              }),
            );
          } catch (e) {
            missing.push(m);
            log.warn({ member: m, err: (e as Error).message }, 'monitoring member did not report its share');
          }
        }),
      );
      await housekeeping().catch((e) => log.warn({ err: e }, 'monitoring housekeeping failed'));
      return {
        cycle: n,
        leader: o.election.id,
        members,
        assignment: Object.fromEntries([...hostSplit].map(([m, items]) => [m, items.length])),
        hosts: hosts.length,
        pools: checkable.length,
        reports,
        missing,
        ms: Math.round(performance.now() - start),
      };
    },
  };
}
