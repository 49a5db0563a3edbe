// Prometheus figures an operator watches to see work that is not moving: unfinished tasks by status, the age
// of the oldest one, and outbox rows not yet on the bus. A task pending for minutes means no worker consumes
// its queue (every compute or network instance down), which the task itself cannot tell anyone.
import { sql } from 'kysely';
import * as prom from 'prom-client';
import type { Logger } from '../lib/log.ts';
import type { TaskStatus } from './schema.ts';
import type { Db } from './store.ts';

const UNFINISHED: TaskStatus[] = ['accepting', 'pending', 'running', 'rolling_back'];

interface Census {
  byStatus: Map<string, number>;
  oldestSeconds: number;
}

export function createControllerMetrics(registry: prom.Registry, db: Db, log: Logger): void {
  const registers = [registry];
  const countTasks = async (): Promise<Census> => {
    const rows = await db
      .selectFrom('tasks')
      .select(['status', sql<number>`count(*)::int`.as('n'), sql<Date>`min(created_at)`.as('oldest')])
      .where('finished_at', 'is', null)
      .groupBy('status')
      .execute();
    const oldest = Math.min(...rows.map((r) => new Date(r.oldest).getTime()));
    return {
      byStatus: new Map(rows.map((r) => [r.status, r.n])),
      oldestSeconds: Number.isFinite(oldest) ? Math.max(0, (Date.now() - oldest) / 1000) : 0,
    };
  };
  // A scrape collects every gauge at once: the two task gauges share one query.
  let census: Promise<Census | undefined> | undefined;
  const taskCensus = () =>
    (census ??= countTasks()
      .catch((err) => void log.warn({ err }, 'metrics: tasks not counted'))
      .finally(() => setImmediate(() => (census = undefined))));
  new prom.Gauge({
    name: 'kloudak_controller_unfinished_tasks',
    help: 'Tasks not yet successful, rolled back or failed, by status',
    labelNames: ['status'],
    registers,
    async collect() {
      const c = await taskCensus();
      if (c) for (const s of UNFINISHED) this.set({ status: s }, c.byStatus.get(s) ?? 0);
    },
  });
  new prom.Gauge({
    name: 'kloudak_controller_oldest_unfinished_task_seconds',
    help: 'Age of the oldest unfinished task (0 when none)',
    registers,
    async collect() {
      const c = await taskCensus();
      if (c) this.set(c.oldestSeconds);
    },
  });
  new prom.Gauge({
    name: 'kloudak_controller_outbox_unpublished',
    help: 'Task messages committed but not yet confirmed by the bus',
    registers,
    async collect() {
      try {
        const r = await db
          .selectFrom('outbox')
          .select(sql<number>`count(*)::int`.as('n'))
          .where('published_at', 'is', null)
          .executeTakeFirst();
        this.set(r?.n ?? 0);
      } catch (err) {
        log.warn({ err }, 'metrics: outbox not counted');
      }
    },
  });
}
