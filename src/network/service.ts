// The Network service: network worker, rollback worker and reconciler (tags, quarantine, port security).
import { join } from 'node:path';
import type { Bus, Consumer } from '../lib/bus/bus.ts';
import type { Config } from '../lib/config.ts';
import { openDatabase, type Database } from '../lib/db.ts';
import { createCatalogue } from '../lib/catalogue.ts';
import { createInventoryClient } from '../lib/clients/inventory.ts';
import type { Logger } from '../lib/log.ts';
import { createNotifier } from '../lib/notify.ts';
import { ownServiceKey } from '../lib/secrets.ts';
import { createServiceTokenSource } from '../lib/servicetoken.ts';
import { createSshShell, type HostShell } from '../lib/ssh.ts';
import type { NetworkContext } from './context.ts';
import { networkMigrations } from './migrations.ts';
import { createOvsSwitch } from './ovs.ts';
import { startReconciler, type ReconcileReport } from './reconcile.ts';
import { preparePorts } from './tasks.ts';
import { createNetnsRouterHost } from './routers.ts';
import type { NetworkDB } from './schema.ts';
import { networkRollbackWorker, networkWorker } from './worker.ts';

export interface NetworkService {
  ctx: NetworkContext;
  database: Database<NetworkDB>;
  /** One reconciliation pass now (after any pass under way). */
  reconcile(): Promise<ReconcileReport>;
  close(): Promise<void>;
}

export async function createNetworkService(o: {
  config: Config;
  log: Logger;
  bus: Bus;
  shell?: HostShell;
}): Promise<NetworkService> {
  const { config, log, bus } = o;
  const database = await openDatabase<NetworkDB>({
    url: config.NETWORK_DB,
    template: config.PGLITE_TEMPLATE,
    dir: join(config.DATA_DIR, 'network', 'db'),
    migrations: networkMigrations,
    log,
  });
  const token = createServiceTokenSource(config.INVENTORY_URL, 'network', ownServiceKey(config, 'network'));
  const shell =
    o.shell ??
    createSshShell({ user: config.SSH_USER, key: config.SSH_KEY, knownHosts: config.SSH_KNOWN_HOSTS });
  const ovs = createOvsSwitch(shell);
  const notifier = createNotifier({ url: config.NOTIFICATION_URL, token, log, timeoutMs: 3000, retries: 1 });
  const inventory = createInventoryClient({
    url: config.INVENTORY_URL,
    token,
    timeout: config.HTTP_TIMEOUT,
    retries: config.HTTP_RETRIES,
  });
  const ctx: NetworkContext = {
    db: database.db,
    bus,
    hosts: createCatalogue(inventory).hosts,
    ovs,
    policy: {
      groups: (ws) => inventory.securityGroups.list(ws),
      vms: (ws) => inventory.vms.list(ws),
    },
    routers: createNetnsRouterHost(shell, ovs),
    config,
    log,
    notify: (workspace, event) => notifier.send(workspace, event),
  };
  const consumers: Consumer[] = [
    await bus.consume('network', networkWorker(ctx), { prefetch: 8 }),
    await bus.consume('network_rollback', networkRollbackWorker(ctx), { prefetch: 4 }),
    // A live migration's destination ports, made ready while compute holds the switch-over back.
    await bus.serveRpc('ports_prepare', (t) => preparePorts(ctx, t), { prefetch: 4 }),
  ];
  const reconciler = startReconciler(ctx, config.RECONCILE_INTERVAL);
  return {
    ctx,
    database,
    reconcile: () => reconciler.once(),
    async close() {
      for (const c of consumers) await c.cancel();
      await reconciler.stop();
      await notifier.close();
      await database.close();
    },
  };
}
