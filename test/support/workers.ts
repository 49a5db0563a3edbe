// Workers that live in the test suite only: they answer controller tasks as a script says, so the
// controller can be tested before (and apart from) the real compute and network services.
import type { Bus, Consumer } from '../../src/lib/bus/bus.ts';

export type Verdict = { status: 'successful' | 'failed'; error?: string; [k: string]: unknown } | 'hold';

export interface ScriptedWorker {
  /** Every task body received, in order. */
  received: Record<string, unknown>[];
  rollbacks: Record<string, unknown>[];
  stop(): Promise<void>;
}

/**
 * Answers tasks of `workspace` on `queue` (vm or network) with `script(task, nth)` and acknowledges rollbacks
 * with success (plus `rolledBack`'s fields, e.g. the state a host reports). Tasks of other workspaces
 * (leftovers of other tests) are acked and ignored.
 */
export async function scriptedWorker(
  bus: Bus,
  queue: 'vm' | 'network',
  workspace: string,
  script: (task: Record<string, unknown>, nth: number) => Verdict,
  rolledBack: Record<string, unknown> = {},
): Promise<ScriptedWorker> {
  const received: Record<string, unknown>[] = [];
  const rollbacks: Record<string, unknown>[] = [];
  const results = `${queue}_notification`;
  const consumers: Consumer[] = [];
  consumers.push(
    await bus.consume(queue, async (d) => {
      if (d.body.owner !== workspace) return;
      received.push(d.body);
      const v = script(d.body, received.length);
      if (v === 'hold') return new Promise<void>(() => undefined); // never acks: a worker stuck or dying
      await bus.publish(results, {
        task_id: d.body.task_id,
        attempt: d.body.attempt,
        retries: d.body.retries,
        from: queue === 'vm' ? 'compute' : 'network',
        ...v,
      });
    }),
  );
  consumers.push(
    await bus.consume(`${queue}_rollback`, async (d) => {
      if (d.body.owner !== workspace) return;
      rollbacks.push(d.body);
      await bus.publish(results, {
        task_id: d.body.task_id,
        attempt: d.body.attempt,
        status: 'successful',
        rollback: true,
        ...rolledBack,
      });
    }),
  );
  return {
    received,
    rollbacks,
    stop: async () => {
      for (const c of consumers) await c.cancel();
    },
  };
}
