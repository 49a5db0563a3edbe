// The fail worker (DESIGN "Reliability principles", book chapter 12 "Handling Host Failures"): a failed host's
// VMs move to another up host of the area (placement.ts), are restarted there (restart.ts) while the failed
// host is fenced (hosts.ts), and their rooms are told (notices.ts). A host back up gets its stale copies
// removed.
//
// Safety: libvirt's lock manager (virtlockd, leases on the shared pool) refuses to start a domain whose disk
// a running domain holds, so in a split brain (the host cut off while its guests run) the restart waits,
// retried every few seconds, until the old copy is fenced or destroyed. A restart is a state in compute's
// record ('restarting' on the new host), so a crash or a redelivery resumes it instead of doing it twice.
import type { Consumer } from '../../lib/bus/bus.ts';
import type { InventoryClient } from '../../lib/clients/inventory.ts';
import { QUEUES } from '../../lib/contracts/messages.ts';
import type { ComputeContext } from '../context.ts';
import { hostEventHandlers, type Fencer } from './hosts.ts';
import { createNotices } from './notices.ts';
import { createRelocation } from './placement.ts';
import { createRestarter } from './restart.ts';

export { createCommandFencer, type Fencer } from './hosts.ts';

export interface FailoverOptions {
  ctx: ComputeContext;
  inventory: Pick<InventoryClient, 'vms' | 'networks'>;
  /** The service token, for the room notifications. */
  token: () => Promise<string>;
  /** Rooms are told about moves when set (best effort). */
  notificationUrl?: string;
  fencer?: Fencer;
  /** Seconds between attempts to restart VMs still waiting (a held disk lease, no room yet). */
  retrySeconds?: number;
}

export interface Failover {
  /** One pass: relocate VMs of down hosts, (re)start VMs marked restarting. */
  tick(): Promise<void>;
  stop(): Promise<void>;
}

export async function startFailover(o: FailoverOptions): Promise<Failover> {
  const { ctx } = o;
  const log = ctx.log.child({ worker: 'failover' });
  const notices = createNotices({ log, notificationUrl: o.notificationUrl, token: o.token });
  const movedFrom = new Map<number, string>();
  const relocation = createRelocation({ ...ctx, log, notices, movedFrom });
  const restarter = createRestarter({ ...ctx, inventory: o.inventory, log, notices, movedFrom });

  const fencing = new Set<Promise<void>>();
  let busy: Promise<void> | undefined;
  let pending = false;
  const tick = (): Promise<void> => {
    if (busy) {
      pending = true;
      return busy;
    }
    busy = (async () => {
      do {
        pending = false;
        try {
          await relocation.relocateAll();
          await Promise.all(fencing);
          await restarter.restartAll();
        } catch (e) {
          log.warn({ err: e }, 'failover pass failed');
        }
      } while (pending);
    })().finally(() => (busy = undefined));
    return busy;
  };

  const hosts = hostEventHandlers({
    ...ctx,
    log,
    fencer: o.fencer,
    relocation,
    restarter,
    fencing,
    tick,
  });
  const consumers: Consumer[] = [
    await ctx.bus.consume(QUEUES.hostFailure, hosts.onFailure, { prefetch: 1 }),
    await ctx.bus.consume(QUEUES.hostUp, hosts.onUp, { prefetch: 1 }),
  ];
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const loop = () => {
    timer = setTimeout(
      () => {
        void tick().finally(() => {
          if (!stopped) loop();
        });
      },
      (o.retrySeconds ?? 3) * 1000,
    );
  };
  loop();
  return {
    tick,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      for (const c of consumers) await c.cancel();
      await busy;
      await notices.close();
    },
  };
}
