// `kloudak up` and `kloudak serve <service>`: build services from the configuration and run them until a
// signal comes, then stop them cleanly (last started, first stopped).
import { join } from 'node:path';
import { createBus } from '../lib/bus/index.ts';
import type { Bus } from '../lib/bus/bus.ts';
import { ConfigError, loadConfig, type Config, type ConfigKey } from '../lib/config.ts';
import { listen } from '../lib/http.ts';
import { createLogger } from '../lib/log.ts';
import { createInventory } from '../inventory/service.ts';
import { startNotification } from '../notification/index.ts';
import { createController } from '../controller/service.ts';
import { createCompute } from '../compute/service.ts';
import { createNetworkService } from '../network/service.ts';
import { createMonitoring } from '../monitoring/service.ts';
import { SERVICES } from '../lib/rights.ts';
import { serviceKey, serviceSecret } from '../lib/secrets.ts';

interface Running {
  name: string;
  close(): Promise<void>;
}

interface Runtime {
  config: Config;
  /** One bus per process: in `kloudak up` every service shares the in-process bus. */
  bus(): Promise<Bus>;
}

type Starter = (rt: Runtime) => Promise<Running>;

const starters: Record<string, Starter> = {
  inventory: async ({ config }) => {
    const log = createLogger('inventory', config.LOG_LEVEL);
    const inv = await createInventory({
      config,
      log,
      onAdminCreated: (u, p) =>
        process.stdout.write(
          `\nFirst admin created: ${u} / ${p}\n(shown once; change it after logging in)\n\n`,
        ),
      extraRoutes: async (app) => (await import('../dashboard/routes.ts')).dashboardRoutes(app, { config }),
    });
    const port = await listen(inv.app, config.BIND, config.INVENTORY_PORT);
    log.info({ port }, 'inventory listening');
    return { name: 'inventory', close: () => inv.close() };
  },
  notification: async ({ config }) => {
    const log = createLogger('notification', config.LOG_LEVEL);
    const n = await startNotification(config, log);
    log.info({ port: n.port }, 'notification listening');
    return { name: 'notification', close: () => n.close() };
  },
  controller: async (rt) => {
    const { config } = rt;
    const log = createLogger('controller', config.LOG_LEVEL);
    const c = await createController({ config, log, bus: await rt.bus() });
    const port = await listen(c.app, config.BIND, config.CONTROLLER_PORT);
    log.info({ port }, 'controller listening');
    return { name: 'controller', close: () => c.close() };
  },
  compute: async (rt) => {
    const log = createLogger('compute', rt.config.LOG_LEVEL);
    const c = await createCompute({ config: rt.config, log, bus: await rt.bus() });
    const port = await listen(c.app, rt.config.BIND, rt.config.COMPUTE_PORT);
    log.info({ port }, 'compute console bridge listening');
    return { name: 'compute', close: () => c.close() };
  },
  network: async (rt) => {
    const n = await createNetworkService({
      config: rt.config,
      log: createLogger('network', rt.config.LOG_LEVEL),
      bus: await rt.bus(),
    });
    return { name: 'network', close: () => n.close() };
  },
  monitoring: async (rt) => {
    const log = createLogger('monitoring', rt.config.LOG_LEVEL);
    const m = await createMonitoring({ config: rt.config, log, bus: await rt.bus() });
    const port = await listen(m.app, rt.config.BIND, rt.config.STATS_PORT);
    log.info({ port }, 'monitoring stats API listening');
    return { name: 'monitoring', close: () => m.close() };
  },
};

function configOrExit(overrides: Partial<Record<ConfigKey, string>> = {}): Config {
  try {
    return loadConfig(process.env, overrides);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`kloudak: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
}

function runtime(config: Config): Runtime & { closeBus(): Promise<void> } {
  let bus: Promise<Bus> | undefined;
  return {
    config,
    bus: () =>
      (bus ??= createBus({
        url: config.BUS,
        journalDir: join(config.DATA_DIR, 'bus'),
        log: createLogger('bus', config.LOG_LEVEL),
      })),
    closeBus: async () => {
      if (bus) await (await bus).close();
    },
  };
}

interface RunOptions {
  /** Settings over the environment's (e.g. the admin password `kloudak up` keeps in the data dir). */
  overrides?: (config: Config) => Promise<Partial<Record<ConfigKey, string>>>;
  /** Runs once every service is up; a signal meanwhile still stops everything cleanly. */
  afterStart?: (config: Config) => Promise<void>;
}

async function run(names: string[], opts: RunOptions = {}): Promise<void> {
  let config = configOrExit();
  if (opts.overrides) {
    const overrides = await opts.overrides(config);
    config = configOrExit(overrides);
  }
  const rt = runtime(config);
  const running: Running[] = [];
  const stopAll = async () => {
    for (const s of [...running].reverse())
      await s.close().catch((e) => process.stderr.write(`stopping ${s.name}: ${String(e)}\n`));
    await rt.closeBus();
  };
  try {
    for (const name of names) running.push(await starters[name](rt));
  } catch (e) {
    process.stderr.write(`kloudak: ${(e as Error).message}\n`);
    await stopAll();
    process.exit(1);
  }
  if (names.length > 1)
    process.stdout.write(
      `Kloudak is up: dashboard and inventory at http://127.0.0.1:${config.INVENTORY_PORT}/\n`,
    );
  const stopped = new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  if (opts.afterStart)
    await Promise.race([
      opts.afterStart(config).catch((e) => process.stderr.write(`kloudak: ${(e as Error).message}\n`)),
      stopped,
    ]);
  await stopped;
  await stopAll();
  process.exit(0);
}

/** `kloudak up`: every service, then (unless --no-lab or KLOUDAK_UP_LAB=0) a lab of --hosts hosts registered as its hosts. */
export async function upCommand(o: { lab?: boolean; hosts?: string } = {}): Promise<void> {
  const { upLab, upLabHosts, upOverrides, upLabWanted } = await import('./commands/up.ts');
  const lab = upLabWanted(o.lab);
  const hosts = upLabHosts(o.hosts);
  await run(Object.keys(starters), {
    overrides: (c) => upOverrides(c, lab),
    afterStart: (c) => upLab(c, lab, hosts),
  });
}

/** Prints one service's own key (from SERVICE_SECRET, or the data dir's generated one): for its machine's
 * KLOUDAK_SERVICE_KEY, so that machine never holds the secret every other service's key comes from. */
export function serviceKeyCommand(service: string): void {
  if (!(SERVICES as readonly string[]).includes(service)) {
    process.stderr.write(`kloudak: unknown service ${service}; one of: ${SERVICES.join(', ')}\n`);
    process.exit(2);
  }
  const config = configOrExit();
  process.stdout.write(`${serviceKey(serviceSecret(config.SERVICE_SECRET, config.DATA_DIR), service)}\n`);
}

export async function serveCommand(service: string): Promise<void> {
  if (!starters[service]) {
    process.stderr.write(
      `kloudak: unknown service ${service}; one of: ${Object.keys(starters).join(', ')}\n`,
    );
    process.exit(2);
  }
  await run([service]);
}
