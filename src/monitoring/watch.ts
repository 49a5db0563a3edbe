// Heartbeats and leases (issue 18 item 5): a worker sends each host it owns a heartbeat every
// MONITOR_HEARTBEAT seconds over the host's long-lived connection (src/monitoring/sessions.ts); every answer,
// and every good check, renews the host's lease of HOST_LEASE seconds. When a lease runs out, the owner of
// the failure decision (the collector) is told, at most once a lease while it stays out: it confirms through
// the second path before reporting host_failure. Hosts without a connection of their own (more hosts than
// sessions) have no heartbeat and no lease: their checks decide, as before.
import type { Logger } from '../lib/log.ts';
import type { HostWork } from '../lib/contracts/messages.ts';
import type { HostProbe } from './probe.ts';

export interface WatchOptions {
  probe: HostProbe;
  log: Logger;
  heartbeatMs: number;
  leaseMs: number;
  /** Ownership lapses when no cycle gave the host to this worker for this long (another member has it). */
  ownershipMs: number;
  /** The lease of a heartbeat host ran out `silentMs` ago. */
  expired(h: HostWork, silentMs: number): Promise<void>;
}

interface Watched {
  work: HostWork;
  ownedUntil: number;
  lastAnswer: number;
  /** Whether the host has a heartbeat (a connection of its own); until known, no lease is enforced. */
  beats: boolean;
  beating: boolean;
  nextBeat: number;
  failedBeats: number;
  deciding: boolean;
  nextDecision: number;
}

export function createWatch(o: WatchOptions) {
  const hosts = new Map<string, Watched>();
  let timer: NodeJS.Timeout | undefined;

  function beat(w: Watched, now: number): void {
    w.beating = true;
    const uri = w.work.libvirt_uri;
    o.probe.heartbeat!(uri, o.leaseMs + 2000)
      .then(
        (beats) => {
          w.beats = beats;
          w.failedBeats = 0;
          if (beats) w.lastAnswer = Date.now();
          w.nextBeat = now + o.heartbeatMs;
        },
        (e: unknown) => {
          // Back off (1, 2, 4, 8 s) while the host does not answer: each try may open an SSH connection.
          w.failedBeats++;
          w.nextBeat = Date.now() + Math.min(8, 2 ** (w.failedBeats - 1)) * o.heartbeatMs;
          if (w.failedBeats === 1)
            o.log.info({ host: w.work.name, err: (e as Error).message }, 'heartbeat unanswered');
        },
      )
      .finally(() => (w.beating = false));
  }

  function tick(): void {
    const now = Date.now();
    for (const [name, w] of hosts) {
      if (now > w.ownedUntil) {
        hosts.delete(name);
        o.probe.release?.(w.work.libvirt_uri);
        continue;
      }
      if (!w.beating && now >= w.nextBeat) beat(w, now);
      const silent = now - w.lastAnswer;
      if (w.beats && silent > o.leaseMs && !w.deciding && now >= w.nextDecision) {
        w.deciding = true;
        o.expired(w.work, silent)
          .catch((e: unknown) => o.log.error({ err: e, host: name }, 'deciding on an expired lease failed'))
          .finally(() => {
            w.deciding = false;
            w.nextDecision = Date.now() + o.leaseMs;
          });
      }
    }
  }

  return {
    /** The hosts this worker was given this cycle; hosts it no longer has are let go. */
    own(work: HostWork[]): void {
      const now = Date.now();
      const mine = new Set(work.map((h) => h.name));
      for (const [name, w] of hosts)
        if (!mine.has(name)) {
          hosts.delete(name);
          o.probe.release?.(w.work.libvirt_uri);
        }
      for (const h of work) {
        const w = hosts.get(h.name);
        if (w && w.work.libvirt_uri === h.libvirt_uri) {
          w.ownedUntil = now + o.ownershipMs;
          continue;
        }
        if (w) o.probe.release?.(w.work.libvirt_uri);
        hosts.set(h.name, {
          work: h,
          ownedUntil: now + o.ownershipMs,
          lastAnswer: now,
          beats: false,
          beating: false,
          nextBeat: now,
          failedBeats: 0,
          deciding: false,
          nextDecision: 0,
        });
      }
      if (!timer && o.probe.heartbeat && o.heartbeatMs > 0) {
        timer = setInterval(tick, Math.min(o.heartbeatMs, 250));
        timer.unref();
      }
    },
    /** A good check of the host: its lease is renewed. */
    answered(name: string): void {
      const w = hosts.get(name);
      if (w) w.lastAnswer = Date.now();
    },
    /** Seconds since the host last answered, when it has a lease. */
    silentMs(name: string): number | undefined {
      const w = hosts.get(name);
      return w?.beats ? Date.now() - w.lastAnswer : undefined;
    },
    close(): void {
      clearInterval(timer);
      timer = undefined;
      hosts.clear();
    },
  };
}

export type Watch = ReturnType<typeof createWatch>;
