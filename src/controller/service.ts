// The Controller service: API, task store, outbox relay and result consumers in one process; run any number.
import { join } from 'node:path';
import { sql } from 'kysely';
import type { TokenVerifier } from '../lib/auth.ts';
import { inventoryAuthority, type Authority } from '../lib/authority.ts';
import type { Bus, Consumer } from '../lib/bus/bus.ts';
import type { Config } from '../lib/config.ts';
import { openDatabase, type Database } from '../lib/db.ts';
import { createApp, type App } from '../lib/http.ts';
import type { Logger } from '../lib/log.ts';
import { createNotifier } from '../lib/notify.ts';
import { createInventoryClient } from '../lib/clients/inventory.ts';
import { dataSecret, ownServiceKey } from '../lib/secrets.ts';
import { createServiceTokenSource } from '../lib/servicetoken.ts';
import type { ControllerContext, RoomNotifier } from './context.ts';
import { createControllerMetrics } from './metrics.ts';
import { controllerMigrations } from './migrations.ts';
import { startRelay, type Relay } from './relay.ts';
import { createSealer } from './seal.ts';
import { agreeOnTaskKey } from './store.ts';
import { consumeResults } from './results.ts';
import { consoleRoutes } from './console.ts';
import { consumeTeardowns } from './teardown.ts';
import { controllerRoutes } from './routes.ts';
import { sweepAccepting } from './usecases/accept.ts';
import type { ControllerDB } from './schema.ts';

export interface Controller {
  app: App;
  ctx: ControllerContext;
  database: Database<ControllerDB>;
  close(): Promise<void>;
}

export interface ControllerOptions {
  config: Config;
  log: Logger;
  bus: Bus;
  /** Defaults: inventory's JWKS (token signatures), and the notification service at NOTIFICATION_URL. */
  verifier?: TokenVerifier;
  /** Default: standings read from inventory, with `verifier` (src/lib/authority.ts). */
  auth?: Authority;
  notifier?: RoomNotifier & { close?(): Promise<void> };
  /** Tests start a controller that accepts but never publishes (a crash between accept and publish). */
  relay?: boolean;
}

export async function createController(o: ControllerOptions): Promise<Controller> {
  const { config, log, bus } = o;
  const database = await openDatabase<ControllerDB>({
    url: config.CONTROLLER_DB,
    template: config.PGLITE_TEMPLATE,
    dir: join(config.DATA_DIR, 'controller', 'db'),
    migrations: controllerMigrations,
    log,
  });
  const token = createServiceTokenSource(
    config.INVENTORY_URL,
    'controller',
    ownServiceKey(config, 'controller'),
  );
  // Every controller on one database needs the same key: configure TASK_KEY when they do not share a data dir.
  const sealer = createSealer(dataSecret(config.TASK_KEY, join(config.DATA_DIR, 'controller'), 'task-key'));
  try {
    await agreeOnTaskKey(database.db, sealer.keyCheck);
  } catch (e) {
    await database.close();
    throw e;
  }
  const notifier = o.notifier ?? createNotifier({ url: config.NOTIFICATION_URL, token, log });
  const relay: Relay =
    o.relay === false
      ? { kick: () => undefined, stop: async () => undefined }
      : startRelay(database.db, bus, sealer, log);
  const auth = o.auth ?? inventoryAuthority({ config, log, token, verifier: o.verifier });
  const ctx: ControllerContext = {
    db: database.db,
    inventory: createInventoryClient({
      url: config.INVENTORY_URL,
      token,
      timeout: config.HTTP_TIMEOUT,
      retries: config.HTTP_RETRIES,
    }),
    auth,
    relay,
    sealer,
    notifier,
    serviceToken: token,
    compute: {
      room: (r, requestId) => bus.rpc('vm_room', r, { timeout: config.HTTP_TIMEOUT, requestId }),
    },
    config,
    log,
  };
  const consumers: Consumer[] =
    o.relay === false ? [] : [...(await consumeResults(ctx, bus)), ...(await consumeTeardowns(ctx, bus))];
  // Accepts a dead controller left halfway are undone by whichever controller sweeps first.
  const sweeper =
    o.relay === false
      ? undefined
      : setInterval(
          () => void sweepAccepting(ctx).catch((e) => log.warn({ err: e }, 'accept sweep failed')),
          30_000,
        );
  const app = await createApp({
    service: 'controller',
    log,
    description:
      'The only API that creates, edits or deletes VMs, networks, routers and interfaces; tasks, retries and rollbacks.',
    health: async () => void (await sql`select 1`.execute(database.db)),
  });
  controllerRoutes(app, ctx);
  consoleRoutes(app, ctx);
  createControllerMetrics(app.metrics, database.db, log);
  await app.ready();
  return {
    app,
    ctx,
    database,
    async close() {
      clearInterval(sweeper);
      for (const c of consumers) await c.cancel();
      await relay.stop();
      await app.close();
      await notifier.close?.();
      auth.close();
      await database.close();
    },
  };
}
