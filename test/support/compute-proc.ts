// A compute service in its own process, configured from KLOUDAK_* variables, for tests that SIGKILL it.
import { createBus } from '../../src/lib/bus/index.ts';
import { loadConfig } from '../../src/lib/config.ts';
import { createLogger } from '../../src/lib/log.ts';
import { createCompute } from '../../src/compute/service.ts';

const config = loadConfig();
const log = createLogger('compute', config.LOG_LEVEL);
const bus = await createBus({ url: config.BUS, log });
await createCompute({ config, log, bus });
process.stdout.write('compute ready\n');
