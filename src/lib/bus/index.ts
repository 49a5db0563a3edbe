// Picks the bus: RabbitMQ when a broker URL is configured, else the in-process bus (journaled when given a
// directory), so a single-process deployment or a test needs no broker.
import type { Logger } from '../log.ts';
import { createAmqpBus } from './amqp.ts';
import type { Bus } from './bus.ts';
import { createMemoryBus } from './memory.ts';

export * from './bus.ts';

export function createBus(opts: { url?: string; journalDir?: string; log: Logger }): Promise<Bus> {
  if (opts.url) return createAmqpBus({ url: opts.url, log: opts.log });
  return createMemoryBus({ journalDir: opts.journalDir, log: opts.log });
}
