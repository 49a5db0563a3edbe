// The Monitoring service (book chapters 9 and 12). Every process: a worker serving its share of each cycle
// on `monitor.<member>`, placement RPC servers on `placement_host` and `placement_pool`, and the stats API.
// The elected leader runs the cycle every MONITOR_INTERVAL seconds. docs/monitoring.md describes it.
import { join } from 'node:path';
import { sql } from 'kysely';
import type { TokenVerifier } from '../lib/auth.ts';
import { inventoryAuthority, type Authority } from '../lib/authority.ts';
import { createCatalogue } from '../lib/catalogue.ts';
import { createInventoryClient } from '../lib/clients/inventory.ts';
import { QUEUES, type Bus, type Consumer } from '../lib/bus/bus.ts';
import type { Config } from '../lib/config.ts';
import { openDatabase, type Database } from '../lib/db.ts';
import type { App } from '../lib/http.ts';
import type { Logger } from '../lib/log.ts';
import { ownServiceKey } from '../lib/secrets.ts';
import { createServiceTokenSource } from '../lib/servicetoken.ts';
import { createSshShell, type HostShell } from '../lib/ssh.ts';
import { createCollector } from './collector.ts';
import {
  createInventoryGuestDirectory,
  createPeerPingProbe,
  createPingProbe,
  createTcpManagementReach,
  type GuestDirectory,
  type GuestProbe,
  type ManagementReach,
} from './confirm.ts';
import { createSingleElection, createZkElection, type Election } from './election.ts';
import {
  createLeader,
  watchedCatalogue,
  workQueue,
  WORK_QUEUE_OPTIONS,
  type CycleReport,
  type Watched,
} from './leader.ts';
import { createPlacementServer } from './placement.ts';
import { createVirshSessions } from './sessions.ts';
import { createVirshProbe, type HostProbe } from './probe.ts';
import { monitorMigrations, type MonitorDB } from './schema.ts';
import { createStatsApp } from './stats.ts';

export interface MonitoringOptions {
  config: Config;
  log: Logger;
  bus: Bus;
  /** Default: ZooKeeper when config.ZOOKEEPER is set, else this process alone (leader). */
  election?: Election;
  /** Default: long-lived virsh sessions over each host's libvirt URI, df over SSH for pools. */
  probe?: HostProbe;
  /** Default: ping (HOST_CONFIRM local: from here; peer: from another host over SSH). */
  guests?: GuestProbe;
  /** Default: inventory's VM records. */
  guestDirectory?: GuestDirectory;
  /** Default: a TCP connection to the host's libvirt URI endpoint (its SSH port). */
  reach?: ManagementReach;
  /** Default: inventory's hosts and pools, read with the monitoring service token. */
  catalogue?: Watched;
  /** Default: inventory's JWKS. */
  verifier?: TokenVerifier;
  /** Default: standings read from inventory, with `verifier` (src/lib/authority.ts). */
  auth?: Authority;
  shell?: HostShell;
}

export interface Monitoring {
  /** The stats API, to listen on STATS_PORT. */
  app: App;
  election: Election;
  database: Database<MonitorDB>;
  /** Runs a leader cycle now (undefined when this process does not lead): for tests and benchmarks. */
  cycle(): Promise<CycleReport | undefined>;
  /** Called after every cycle this process leads. */
  onCycle(fn: (r: CycleReport) => void): void;
  close(): Promise<void>;
}

export async function createMonitoring(o: MonitoringOptions): Promise<Monitoring> {
  const { config, log, bus } = o;
  const database = await openDatabase<MonitorDB>({
    url: config.MONITOR_DB,
    template: config.PGLITE_TEMPLATE,
    dir: join(config.DATA_DIR, 'monitoring', 'db'),
    migrations: monitorMigrations,
    log,
  });
  const db = database.db;
  const election =
    o.election ??
    (config.ZOOKEEPER
      ? createZkElection({
          connect: config.ZOOKEEPER,
          sessionTimeoutMs: config.ZK_SESSION_TIMEOUT * 1000,
          log,
        })
      : createSingleElection());
  const token = createServiceTokenSource(
    config.INVENTORY_URL,
    'monitoring',
    ownServiceKey(config, 'monitoring'),
  );
  // Confirmation asks inventory with a short bound: it runs while a host is being judged.
  const inventory = (timeout: number, retries: number) =>
    createInventoryClient({ url: config.INVENTORY_URL, token, timeout, retries });
  const catalogue =
    o.catalogue ??
    watchedCatalogue(createCatalogue(inventory(config.HTTP_TIMEOUT, config.HTTP_RETRIES), 2000));
  const shell =
    o.shell ??
    createSshShell({
      user: config.SSH_USER,
      key: config.SSH_KEY,
      knownHosts: config.SSH_KNOWN_HOSTS,
      retries: 0,
    });
  const probe = o.probe ?? createVirshProbe(shell, createVirshSessions({ max: config.MONITOR_SESSIONS }));
  const mlog = log.child({ member: election.id });
  const confirmFrom = config.HOST_CONFIRM;

  const collector = createCollector({
    member: election.id,
    db,
    bus,
    probe,
    log: mlog,
    failureChecks: config.HOST_FAILURE_CHECKS,
    timeoutMs: config.MONITOR_CHECK_TIMEOUT * 1000,
    concurrency: config.MONITOR_CONCURRENCY,
    heartbeatMs: config.MONITOR_HEARTBEAT * 1000,
    leaseMs: config.HOST_LEASE * 1000,
    // A host this worker was not given for three cycles belongs to another member now.
    ownershipMs: (3 * config.MONITOR_INTERVAL + config.MONITOR_CHECK_TIMEOUT) * 1000,
    confirm:
      confirmFrom === 'off'
        ? undefined
        : {
            from: confirmFrom,
            guests: o.guests ?? (confirmFrom === 'peer' ? createPeerPingProbe(shell) : createPingProbe()),
            directory: o.guestDirectory ?? createInventoryGuestDirectory(inventory(2, 1)),
            timeoutMs: 2000,
            graceMs: config.HOST_CONFIRM_GRACE * 1000,
            reach: o.reach ?? createTcpManagementReach(),
            reachTimeoutMs: 2000,
          },
  });
  const placement = createPlacementServer(db, Math.max(30, 3 * config.MONITOR_INTERVAL));
  const consumers: Consumer[] = [];
  // The worker listens before joining, so a leader never hands work to a queue nobody serves yet.
  consumers.push(
    await bus.serveRpc(workQueue(election.id), async (body) => collector.run(body), {
      prefetch: 1,
      ...WORK_QUEUE_OPTIONS,
    }),
  );
  consumers.push(await bus.serveRpc(QUEUES.placeHost, (body) => placement.host(body), { prefetch: 8 }));
  consumers.push(await bus.serveRpc(QUEUES.placePool, (body) => placement.pool(body), { prefetch: 8 }));

  const leader = createLeader({
    db,
    bus,
    election,
    catalogue,
    log: mlog,
    intervalSeconds: config.MONITOR_INTERVAL,
    checkTimeoutSeconds: config.MONITOR_CHECK_TIMEOUT,
    concurrency: config.MONITOR_CONCURRENCY,
    retentionSeconds: config.MONITOR_RETENTION,
  });
  const cycleListeners = new Set<(r: CycleReport) => void>();
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<CycleReport | undefined> | undefined;

  const runCycle = (): Promise<CycleReport | undefined> => {
    if (running) return running;
    if (!election.isLeader() || closed) return Promise.resolve(undefined);
    running = leader
      .cycle()
      .then((r) => {
        mlog.debug(
          { cycle: r.cycle, ms: r.ms, members: r.members.length, hosts: r.hosts, missing: r.missing },
          'monitoring cycle',
        );
        for (const fn of cycleListeners) fn(r);
        return r;
      })
      .catch((e) => {
        mlog.warn({ err: e }, 'monitoring cycle failed');
        return undefined;
      })
      .finally(() => (running = undefined));
    return running;
  };
  const schedule = (ms: number) => {
    clearTimeout(timer);
    if (!closed) timer = setTimeout(() => void tick(), ms);
  };
  const tick = async () => {
    const start = Date.now();
    await runCycle();
    schedule(Math.max(0, config.MONITOR_INTERVAL * 1000 - (Date.now() - start)));
  };
  // A new leader starts at once; members joining or leaving are rebalanced at the next cycle.
  let wasLeader = false;
  election.onChange(() => {
    const now = election.isLeader();
    if (now && !wasLeader && !running) schedule(0);
    wasLeader = now;
  });

  const joinLoop = async () => {
    for (let attempt = 1; !closed; attempt++) {
      try {
        await election.start();
        return;
      } catch (e) {
        mlog.warn({ err: e, attempt }, 'monitoring could not join the election; retrying');
        await new Promise((r) => setTimeout(r, Math.min(10_000, 500 * attempt)));
      }
    }
  };
  // The first attempt is awaited (a configuration error shows at start); later ones run in the background.
  try {
    await election.start();
  } catch (e) {
    mlog.warn({ err: e }, 'monitoring could not join the election yet; retrying in the background');
    void joinLoop();
  }
  schedule(election.isLeader() ? 0 : config.MONITOR_INTERVAL * 1000);

  const auth = o.auth ?? inventoryAuthority({ config, log, token, verifier: o.verifier });
  const app = await createStatsApp({
    db,
    auth,
    log,
    health: async () => void (await sql`select 1`.execute(db)),
  });

  return {
    app,
    election,
    database,
    cycle: runCycle,
    onCycle: (fn) => void cycleListeners.add(fn),
    async close() {
      closed = true;
      clearTimeout(timer);
      for (const c of consumers) await c.cancel().catch(() => undefined);
      await running;
      await collector.idle();
      collector.close();
      await probe.close?.();
      await election.close();
      await app.close();
      auth.close();
      await database.close();
    },
  };
}
