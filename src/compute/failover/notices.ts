// What failover tells people: the workspace room learns of each move (best effort), and the log hears of a
// VM that still waits at most once a minute per VM and reason.
import { HOST_TASKS } from '../../lib/contracts/common.ts';
import type { VmMoved } from '../../lib/contracts/events.ts';
import type { Logger } from '../../lib/log.ts';
import { createNotifier, type Notifier } from '../../lib/notify.ts';

export interface Notices {
  /** Tells the VM's workspace room it now runs on `host`. */
  moved(vm: { workspace: string; name: string }, host: string, from: string | undefined): Promise<void>;
  /** A warning logged at most once a minute per key. */
  warnOnce(key: string, obj: Record<string, unknown>, msg: string): void;
  close(): Promise<void>;
}

export function createNotices(o: {
  log: Logger;
  /** Rooms are told about moves when set. */
  notificationUrl?: string;
  token: () => Promise<string>;
}): Notices {
  const { log } = o;
  const notifier: Notifier | undefined = o.notificationUrl
    ? createNotifier({ url: o.notificationUrl, token: o.token, log, timeoutMs: 3000, retries: 1 })
    : undefined;
  const lastWarn = new Map<string, number>();
  return {
    async moved(vm, host, from) {
      if (!notifier) return;
      const event: VmMoved = {
        kind: 'vm_moved',
        workspace: vm.workspace,
        name: vm.name,
        host,
        from: from ?? null,
        reason: 'host failure',
      };
      // The workspace's room, and the hosts' room (admins: the dashboard's hosts page).
      for (const room of [vm.workspace, HOST_TASKS])
        await notifier.send(room, event).catch((e) => log.warn({ err: e }, 'room notification failed'));
    },
    warnOnce(key, obj, msg) {
      if (Date.now() - (lastWarn.get(key) ?? 0) < 60_000) return;
      lastWarn.set(key, Date.now());
      log.warn(obj, msg);
    },
    close: async () => notifier?.close(),
  };
}
