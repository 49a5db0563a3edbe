// `kloudak up` and `kloudak serve <service>`: build services from the configuration and run them until a
// signal comes, then stop them cleanly.
import { ConfigError, loadConfig, type Config } from '../lib/config.ts';
import { listen } from '../lib/http.ts';
import { createLogger } from '../lib/log.ts';
import { createInventory } from '../inventory/service.ts';

interface Running {
  name: string;
  close(): Promise<void>;
}

type Starter = (config: Config) => Promise<Running>;

const starters: Record<string, Starter> = {
  inventory: async (config) => {
    const log = createLogger('inventory', config.LOG_LEVEL);
    const inv = await createInventory({
      config,
      log,
      onAdminCreated: (u, p) => process.stdout.write(`\nFirst admin created: ${u} / ${p}\n(shown once; change it after logging in)\n\n`),
    });
    const port = await listen(inv.app, config.BIND, config.INVENTORY_PORT);
    log.info({ port }, 'inventory listening');
    return { name: 'inventory', close: inv.close };
  },
};

function configOrExit(): Config {
  try {
    return loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`kloudak: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
}

async function runUntilSignal(services: Running[]): Promise<void> {
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  for (const s of [...services].reverse()) await s.close().catch((e) => process.stderr.write(`stopping ${s.name}: ${String(e)}\n`));
  process.exit(0);
}

export async function upCommand(): Promise<void> {
  const config = configOrExit();
  const running: Running[] = [];
  for (const name of Object.keys(starters)) running.push(await starters[name]!(config));
  process.stdout.write(`Kloudak is up: dashboard and inventory at http://127.0.0.1:${config.INVENTORY_PORT}/\n`);
  await runUntilSignal(running);
}

export async function serveCommand(service: string): Promise<void> {
  const start = starters[service];
  if (!start) {
    process.stderr.write(`kloudak: unknown service ${service}; one of: ${Object.keys(starters).join(', ')}\n`);
    process.exit(2);
  }
  const config = configOrExit();
  await runUntilSignal([await start(config)]);
}
