// Placement by the monitoring service (RPC on `placement_host` / `placement_pool`, DESIGN "Bus contract"),
// which knows hosts' live figures and which hosts are down. When monitoring does not answer in time (or says
// it cannot answer yet: `unavailable`), compute's own records decide (the fallback); any other answer, such
// as `conflict` (no host has the room), is final and fails the task with monitoring's reason.
import type { Bus } from '../lib/bus/bus.ts';
import { QUEUES } from '../lib/bus/bus.ts';
import { isAppError } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import type { HostRequest, Placement } from './placement.ts';

export function createRpcPlacement(
  bus: Bus,
  fallback: Placement,
  log: Logger,
  timeoutSeconds = 3,
  quietSeconds = 60,
): Placement {
  // After monitoring failed to answer in time, compute decides alone for a while instead of waiting out the
  // timeout on every request (a deployment without monitoring pays it once a minute, not per VM).
  let askAgainAt = 0;
  const ask = async <T>(
    queue: string,
    body: Record<string, unknown>,
    local: () => Promise<T>,
    pick: (answer: Record<string, unknown>) => unknown,
  ): Promise<T> => {
    if (Date.now() < askAgainAt) return local();
    let answer: Record<string, unknown>;
    const start = Date.now();
    try {
      answer = await bus.rpc<Record<string, unknown>>(queue, body, { timeout: timeoutSeconds });
    } catch (e) {
      if (isAppError(e) && e.kind === 'unavailable') {
        const silent = Date.now() - start >= timeoutSeconds * 900;
        if (silent) askAgainAt = Date.now() + quietSeconds * 1000;
        log.warn(
          { queue, err: e.message },
          silent
            ? `monitoring does not answer: compute places from its own records for ${quietSeconds} s`
            : 'monitoring cannot place yet: compute decides from its own records',
        );
        return local();
      }
      throw e;
    }
    const v = pick(answer);
    if (typeof v !== 'string' || !v) {
      log.warn({ queue, answer }, 'monitoring answered without a name: compute decides from its own records');
      return local();
    }
    return v as T;
  };
  return {
    host: (r: HostRequest) =>
      ask(
        QUEUES.placeHost,
        {
          area: r.area,
          memoryMib: r.memoryMib,
          vcpus: r.vcpus,
          ...(r.exclude?.length ? { exclude: r.exclude } : {}),
        },
        () => fallback.host(r),
        (a) => a.host,
      ),
    pool: (r) =>
      ask(
        QUEUES.placePool,
        { area: r.area, sizeGib: r.sizeGib },
        () => fallback.pool(r),
        (a) => a.pool,
      ),
  };
}
