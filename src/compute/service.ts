// The Compute service: VM worker, rollback worker and reconciler. Any number may run; each handles the
// tasks the bus gives it.
import { join } from 'node:path';
import { sql } from 'kysely';
import type { Bus, Consumer, Delivery } from '../lib/bus/bus.ts';
import type { Config } from '../lib/config.ts';
import { openDatabase, type Database } from '../lib/db.ts';
import type { Logger } from '../lib/log.ts';
import { ownServiceKey } from '../lib/secrets.ts';
import { createServiceTokenSource } from '../lib/servicetoken.ts';
import { createJwksVerifier, type TokenVerifier } from '../lib/auth.ts';
import type { App } from '../lib/http.ts';
import { createSshShell, createSshTerminals, type HostShell, type HostTerminals } from '../lib/ssh.ts';
import { createConsoleHub } from './console/hub.ts';
import { createConsoleApp } from './console/server.ts';
import { createCatalogue } from '../lib/catalogue.ts';
import { createInventoryClient } from '../lib/clients/inventory.ts';
import { createComputeCatalogue } from './catalogue.ts';
import type { ComputeContext } from './context.ts';
import { createVirshHypervisor, type Hypervisor } from './hypervisor.ts';
import { computeMigrations } from './migrations.ts';
import { createLocalPlacement, withCatalogueRetry, withoutMaintenance } from './placement.ts';
import { createRpcPlacement } from './rpc-placement.ts';
import { createGroupLocks } from './affinity.ts';
import { createCommandFencer, startFailover } from './failover/index.ts';
import { startPowerSync } from './powersync.ts';
import { vmRoom } from './resize.ts';
import { startReconciler } from './reconcile.ts';
import type { ComputeDB } from './schema.ts';
import { createHostStorage } from './storage.ts';
import { createSshSnapshotMetadata } from './snapshot-metadata.ts';
import { vmRollbackWorker, vmWorker } from './worker.ts';

export interface Compute {
  ctx: ComputeContext;
  /** The console bridge (the controller's way to VMs' serial consoles), to listen on COMPUTE_PORT. */
  app: App;
  database: Database<ComputeDB>;
  close(): Promise<void>;
}

export interface ComputeOptions {
  config: Config;
  log: Logger;
  bus: Bus;
  hypervisor?: Hypervisor;
  shell?: HostShell;
  terminals?: HostTerminals;
  /** Default: inventory's JWKS. */
  verifier?: TokenVerifier;
  /** Consume tasks (default); off for a process that only reconciles. */
  consume?: boolean;
}

export async function createCompute(o: ComputeOptions): Promise<Compute> {
  const { config, log, bus } = o;
  const database = await openDatabase<ComputeDB>({
    url: config.COMPUTE_DB,
    template: config.PGLITE_TEMPLATE,
    dir: join(config.DATA_DIR, 'compute', 'db'),
    migrations: computeMigrations,
    log,
  });
  const token = createServiceTokenSource(config.INVENTORY_URL, 'compute', ownServiceKey(config, 'compute'));
  const sshOptions = { user: config.SSH_USER, key: config.SSH_KEY, knownHosts: config.SSH_KNOWN_HOSTS };
  const shell = o.shell ?? createSshShell(sshOptions);
  const inventory = createInventoryClient({
    url: config.INVENTORY_URL,
    token,
    timeout: config.HTTP_TIMEOUT,
    retries: config.HTTP_RETRIES,
  });
  const catalogue = createComputeCatalogue(database.db, createCatalogue(inventory));
  const ctx: ComputeContext = {
    db: database.db,
    bus,
    catalogue,
    placement: withoutMaintenance(
      database.db,
      createRpcPlacement(
        bus,
        withCatalogueRetry(createLocalPlacement(database.db), () => catalogue.refresh()),
        log,
      ),
    ),
    hypervisor: o.hypervisor ?? createVirshHypervisor(),
    storage: createHostStorage(shell),
    groupLocks: createGroupLocks(),
    snapshotMetadata: createSshSnapshotMetadata(shell),
    records: {
      // 404 for the VM, and 404 for a workspace that is gone, both mean no record; no answer tells nothing.
      exists: (ws, name) =>
        inventory.vms.get(ws, name).then(
          (vm) => vm !== undefined,
          () => undefined,
        ),
      async setPowerState(ws, name, state) {
        const vm = await inventory.vms.get(ws, name);
        if (!vm || (vm.state !== 'U' && vm.state !== 'D')) return false;
        if (vm.state !== state) await inventory.vms.update(ws, name, { state });
        return true;
      },
      async setHost(ws, name, host) {
        if (!(await inventory.vms.update(ws, name, { host })))
          throw new Error(`inventory has no vm ${ws}/${name}`);
      },
    },
    config,
    log,
  };
  await catalogue.refresh().catch((e) => log.warn({ err: e }, 'catalogue not loaded yet; will retry'));
  const refresher = setInterval(
    () => void catalogue.refresh().catch((e) => log.warn({ err: e }, 'catalogue refresh failed')),
    30_000,
  );
  const consumers: Consumer[] = [];
  if (o.consume !== false) {
    // Refresh before every task so a host or template registered a second ago is known.
    const fresh =
      <T>(h: (d: Delivery<T>) => Promise<void>) =>
      async (d: Delivery<T>) => {
        await catalogue
          .fresh()
          .catch((e) => log.warn({ err: e }, 'catalogue refresh failed; using the cached one'));
        return h(d);
      };
    const prefetch = config.COMPUTE_VM_TASKS;
    consumers.push(await bus.consume('vm', fresh(vmWorker(ctx)), { prefetch }));
    consumers.push(await bus.consume('vm_rollback', fresh(vmRollbackWorker(ctx)), { prefetch }));
    consumers.push(await bus.serveRpc('vm_room', (r) => vmRoom(ctx, r), { prefetch: 4 }));
  }
  const failover =
    o.consume !== false
      ? await startFailover({
          ctx,
          inventory,
          token,
          notificationUrl: config.NOTIFICATION_URL,
          fencer: config.FENCE_COMMAND ? createCommandFencer(config.FENCE_COMMAND) : undefined,
        })
      : undefined;
  const app = await createConsoleApp({
    ctx,
    verifier: o.verifier ?? createJwksVerifier(config.INVENTORY_URL),
    hub: createConsoleHub({ terminals: o.terminals ?? createSshTerminals(sshOptions), log }),
    shell,
    health: async () => void (await sql`select 1`.execute(database.db)),
  });
  await app.ready();
  const reconciler = startReconciler(ctx, config.RECONCILE_INTERVAL);
  const powerSync = startPowerSync(ctx, config.POWER_SYNC_INTERVAL);
  return {
    ctx,
    app,
    database,
    async close() {
      clearInterval(refresher);
      await app.close();
      for (const c of consumers) await c.cancel();
      await failover?.stop();
      await reconciler.stop();
      await powerSync.stop();
      await database.close();
    },
  };
}
