// The outbox relay: publishes committed task messages with publisher confirms, then marks them. Any number
// of controller instances may run it (rows are claimed with SKIP LOCKED). A crash between publish and mark
// publishes a message twice at worst; workers are idempotent by task_id and attempt.
import type { Bus } from '../lib/bus/bus.ts';
import type { Logger } from '../lib/log.ts';
import type { Sealer } from './seal.ts';
import { DROP_SECRETS, type Db } from './store.ts';

export interface Relay {
  /** Publish now instead of at the next poll (called right after a task is accepted). */
  kick(): void;
  stop(): Promise<void>;
}

export function startRelay(db: Db, bus: Bus, sealer: Sealer, log: Logger, intervalMs = 500): Relay {
  let stopped = false;
  let running: Promise<void> | undefined;
  let again = false;
  let timer: NodeJS.Timeout | undefined;

  const drainOnce = async (): Promise<number> =>
    db.transaction().execute(async (tx) => {
      const rows = await tx
        .selectFrom('outbox')
        .selectAll()
        .where('published_at', 'is', null)
        .where('not_before', '<=', new Date())
        .orderBy('id')
        .limit(50)
        .forUpdate()
        .skipLocked()
        .execute();
      let done = 0;
      for (const r of rows) {
        try {
          await bus.publish(r.queue, sealer.open(r.task_id, r.body), {
            requestId: r.request_id,
            messageId: String(r.id),
          });
        } catch (e) {
          log.warn({ err: e, reqId: r.request_id, queue: r.queue }, 'publish failed; will retry');
          break;
        }
        // Published: the bus holds the message now, the row keeps no secret of it.
        await tx
          .updateTable('outbox')
          .set({ published_at: new Date(), body: DROP_SECRETS })
          .where('id', '=', r.id)
          .execute();
        done++;
      }
      return done === rows.length ? rows.length : -1;
    });

  const drain = async () => {
    do {
      again = false;
      try {
        let n: number;
        do n = await drainOnce();
        while (n === 50 && !stopped);
      } catch (e) {
        if (!stopped) log.warn({ err: e }, 'outbox relay pass failed');
      }
    } while (again && !stopped);
  };

  const run = () => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = drain().finally(() => (running = undefined));
  };

  const tick = () => {
    run();
    if (!stopped) timer = setTimeout(tick, intervalMs);
  };
  tick();

  return {
    kick: run,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
