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
      // All at once: the confirms come back pipelined on one channel, and one statement marks the batch.
      // (Each task has one message waiting at a time, so their order across tasks does not matter.)
      const sent = await Promise.allSettled(
        // async: a body that fails to open rejects its own publish, not the batch.
        rows.map(async (r) =>
          bus.publish(r.queue, sealer.open(r.task_id, r.body), {
            requestId: r.request_id,
            messageId: String(r.id),
          }),
        ),
      );
      const done: number[] = [];
      sent.forEach((s, i) => {
        const r = rows[i];
        if (s.status === 'fulfilled') done.push(r.id);
        else log.warn({ err: s.reason, reqId: r.request_id, queue: r.queue }, 'publish failed; will retry');
      });
      // Published: the bus holds the messages now, the rows keep no secret of them.
      if (done.length)
        await tx
          .updateTable('outbox')
          .set({ published_at: new Date(), body: DROP_SECRETS })
          .where('id', '=', (eb) => eb.fn.any(eb.val(done)))
          .execute();
      return done.length === rows.length ? rows.length : -1;
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
