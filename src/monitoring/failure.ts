// The failure decision (issue 18 item 5): a host is reported failed (host_failure, once) when its lease ran out
// or it failed HOST_FAILURE_CHECKS checks in a row, unless the second path says it still serves: a guest it
// ran at its last good check (and HOST_CONFIRM_GRACE before) answers on the public network; a lapsed lease
// also spares a host whose management address still accepts connections (it runs, starved of CPU).
// docs/monitoring.md "Failure detection".
import type { Kysely } from 'kysely';
import type { Bus } from '../lib/bus/bus.ts';
import type { Logger } from '../lib/log.ts';
import type { HostWork } from '../lib/contracts/messages.ts';
import { announce } from './collector.ts';
import type { GuestDirectory, GuestProbe, ManagementReach } from './confirm.ts';
import type { MonitorDB } from './schema.ts';

export interface ConfirmOptions {
  guests: GuestProbe;
  directory: GuestDirectory;
  /** 'peer': another up host of the area pings (over SSH); 'local': the monitoring machine pings. */
  from: 'local' | 'peer';
  timeoutMs: number;
  /** A guest first seen on the host less than this long ago is not asked: it may still be booting. */
  graceMs: number;
  /** Asked when no guest answered a lapsed lease: a host that still accepts connections is not failed over. */
  reach: ManagementReach;
  reachTimeoutMs: number;
}

export interface DeciderOptions {
  db: Kysely<MonitorDB>;
  bus: Bus;
  log: Logger;
  failureChecks: number;
  confirm?: ConfirmOptions;
}

export function createFailureDecider(o: DeciderOptions) {
  const { db, log } = o;

  /**
   * Whether a host that stopped answering on the management network still serves: 'alive' when one of the
   * guests it ran at its last good check answers on the public network, 'dead' when none does, 'unknown'
   * when there is nothing to ask (no guests, no addresses, no vantage point).
   */
  async function confirm(h: HostWork): Promise<'alive' | 'dead' | 'unknown'> {
    const c = o.confirm;
    if (!c) return 'unknown';
    const settledBy = new Date(Date.now() - c.graceMs);
    const vms = (
      await db
        .selectFrom('vm_samples as s')
        .innerJoin('hosts', (j) => j.onRef('hosts.name', '=', 's.host').onRef('hosts.seen_at', '=', 's.at'))
        .select(['s.workspace', 's.vm'])
        .where('s.host', '=', h.name)
        // Only guests sampled here a grace before: a silent booting guest says nothing of its host (the chaos
        // test saw a loaded host failed over because the guests it had just started did not answer yet).
        .where((eb) =>
          eb.exists(
            eb
              .selectFrom('vm_samples as e')
              .select('e.domain')
              .whereRef('e.domain', '=', 's.domain')
              .where('e.host', '=', h.name)
              .where('e.at', '<=', settledBy),
          ),
        )
        .execute()
    ).flatMap((r) => (r.workspace && r.vm ? [{ workspace: r.workspace, vm: r.vm }] : []));
    if (!vms.length) return 'unknown';
    const addresses = await c.directory.addresses(h.name, vms);
    if (!addresses.length) return 'unknown';
    let via: string | undefined;
    if (c.from === 'peer') {
      via = (
        await db
          .selectFrom('hosts')
          .select('address')
          .where('area', '=', h.area)
          .where('name', '!=', h.name)
          .where('up', '=', true)
          .where('failures', '=', 0)
          .orderBy('seen_at', 'desc')
          .executeTakeFirst()
      )?.address;
      if (!via) return 'unknown';
    }
    try {
      const answered = await c.guests.answering(addresses, c.timeoutMs, via);
      log.info(
        { host: h.name, guests: addresses.length, answered: answered.length, via: via ?? 'monitoring' },
        'asked the guests of a silent host on the public network',
      );
      return answered.length ? 'alive' : 'dead';
    } catch (e) {
      log.warn({ host: h.name, err: (e as Error).message }, 'could not ask the guests of a silent host');
      return 'unknown';
    }
  }

  /** Marks the host down and publishes host_failure (once: only the one who flips the flag announces). */
  async function markDown(h: HostWork, reason: string): Promise<void> {
    const flipped = await db
      .updateTable('hosts')
      .set({ up: false, notified: false, changed_at: new Date(), last_error: reason.slice(0, 500) })
      .where('name', '=', h.name)
      .where('up', '=', true)
      .returning(['name', 'area', 'up', 'changed_at'])
      .executeTakeFirst();
    if (flipped) {
      log.warn({ host: h.name, reason }, 'host failed');
      await announce(db, o.bus, log, flipped).catch((e) =>
        log.warn({ err: e, host: h.name }, 'host_failure not published yet; the leader will retry'),
      );
    }
  }

  const GUESTS_ANSWER = 'its guests answer on the public network';
  const isolated = (h: HostWork, why: string, because = GUESTS_ANSWER) =>
    db
      .updateTable('hosts')
      .set({ last_error: `${why}; ${because}: not failed over`.slice(0, 500) })
      .where('name', '=', h.name)
      .execute()
      .then(() => log.warn({ host: h.name }, `${why}, but ${because}: no failover`));

  async function failed(h: HostWork, err: unknown, at: Date): Promise<void> {
    const message = (err as Error)?.message?.slice(0, 500) ?? String(err);
    const row = await db
      .updateTable('hosts')
      .set((eb) => ({ failures: eb('failures', '+', 1), checked_at: at, last_error: message }))
      .where('name', '=', h.name)
      .returning(['failures', 'up'])
      .executeTakeFirst();
    if (!row) return;
    log.warn({ host: h.name, failures: row.failures, err: message }, 'host check failed');
    if (!row.up || row.failures < o.failureChecks) return;
    // Checks failed long enough; with nothing to ask (no guests) that is enough, as it always was.
    if ((await confirm(h)) === 'alive')
      return isolated(h, `${row.failures} checks failed (last: ${message.slice(0, 200)})`);
    await markDown(h, `${row.failures} checks failed in a row; last: ${message}`);
  }

  /** A heartbeat host's lease ran out: down only when the second path confirms it. */
  async function expired(h: HostWork, silentMs: number): Promise<void> {
    const row = await db.selectFrom('hosts').select('up').where('name', '=', h.name).executeTakeFirst();
    if (!row?.up) return;
    const why = `no heartbeat answered for ${(silentMs / 1000).toFixed(1)} s`;
    // HOST_CONFIRM off: the operator chose speed over a second opinion.
    if (!o.confirm) return markDown(h, why);
    const verdict = await confirm(h);
    if (verdict === 'alive') return isolated(h, why);
    // 'unknown' (no guest to ask): nothing would be restarted, so the checks decide, without hurry.
    if (verdict !== 'dead') return;
    // Heartbeats ride on libvirtd and guests answer only once booted: a host starved of CPU (a burst of TCG
    // guests booting on a small machine) missed both, and was failed over while it ran (vm-create bench,
    // 2026-12-02: 30 VMs restarted on the other host). Its kernel still takes a TCP connection; a host that
    // is off, crashed or cut off does not. Libvirt failing for good still fails its checks (failed, above).
    if (await o.confirm.reach.accepts(h.libvirt_uri, o.confirm.reachTimeoutMs))
      return isolated(
        h,
        why,
        'it accepts connections on its management address (none of its guests answers yet)',
      );
    await markDown(h, `${why} and none of its guests answers on the public network`);
  }

  return { failed, expired };
}
