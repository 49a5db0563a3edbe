// Placement by the monitoring service (RPC on `placement_host` / `placement_pool`, DESIGN "Bus contract"),
// which knows hosts' live figures and which hosts are down. When monitoring does not answer in time (or says
// it cannot answer yet: `unavailable`), compute's own records decide (the fallback); any other answer, such
// as `conflict` (no host has the room), is final and fails the task with monitoring's reason.
import type { Bus } from '../lib/bus/bus.ts';
import { QUEUES } from '../lib/bus/bus.ts';
import { isAppError } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import type { HostRequest, Placement, RoomRequest } from './placement.ts';

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
  const ask = async <A>(
    queue: string,
    call: () => Promise<A>,
    local: () => Promise<string>,
    pick: (answer: A) => string,
  ): Promise<string> => {
    if (Date.now() < askAgainAt) return local();
    const start = Date.now();
    try {
      // The answer is checked against the queue's reply schema by the bus: a name is there.
      return pick(await call());
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
  };
  return {
    host: (r: HostRequest) =>
      ask(
        QUEUES.placeHost,
        () =>
          bus.rpc(
            QUEUES.placeHost,
            {
              area: r.area,
              memoryMib: r.memoryMib,
              vcpus: r.vcpus,
              ...(r.exclude?.length ? { exclude: r.exclude } : {}),
              ...(r.domain ? { domain: r.domain } : {}),
            },
            { timeout: timeoutSeconds },
          ),
        () => fallback.host(r),
        (a) => a.host,
      ),
    // Monitoring counts running domains: a running VM needs only what it grows by, a stopped one all of it.
    room: async (r: RoomRequest) => {
      const held = r.held.running ? r.held : { memoryMib: 0, vcpus: 0 };
      const memoryMib = Math.max(0, r.memoryMib - held.memoryMib);
      const vcpus = Math.max(0, r.vcpus - held.vcpus);
      if (!memoryMib && !vcpus) return;
      await ask(
        QUEUES.placeHost,
        () =>
          bus.rpc(
            QUEUES.placeHost,
            { area: r.area, memoryMib, vcpus, only: [r.host] },
            { timeout: timeoutSeconds },
          ),
        () => fallback.room(r).then(() => r.host),
        (a) => a.host,
      );
    },
    pool: (r) =>
      ask(
        QUEUES.placePool,
        () => bus.rpc(QUEUES.placePool, { area: r.area, sizeGib: r.sizeGib }, { timeout: timeoutSeconds }),
        () => fallback.pool(r),
        (a) => a.pool,
      ),
  };
}
