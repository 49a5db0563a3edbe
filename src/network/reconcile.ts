// Reconciliation, every RECONCILE_INTERVAL seconds, host by host:
// - Private bridge. A VM port (k<8hex>n<i>) whose tag differs from its record is given the record's VLAN.
//   One no record explains (untagged: a trunk of every VLAN; a VLAN no network has; a network's VLAN but no
//   record after ORPHAN_GRACE) is quarantined: moved to the dead VLAN 4095 and set administratively down,
//   marked (external_ids:kloudak-quarantine) and reported: a warning in the log and, when the VM is known,
//   a `port_quarantined` event in its workspace's room. Down is what isolates it: on OVS (3.1, userspace
//   datapath) two ports on VLAN 4095 still reach each other, across hosts too. A quarantined port that a
//   record explains later (a late network task) gets its VLAN back and comes up.
// - Router ports: a tag that differs from the record is corrected.
// - Public bridge: the port security rules are made to match the records (portsecurity.ts).
import type { NetworkContext } from './context.ts';
import { reconcilePortSecurity, VM_PORT, type PortSecurityReport } from './portsecurity.ts';

export interface Drift {
  host: string;
  dev: string;
  expected: number;
  found?: number;
}

export interface Quarantine {
  host: string;
  dev: string;
  reason: 'untagged' | 'unknown-vlan' | 'no-record';
  found?: number;
  workspace?: string;
  vm?: string;
}

export interface ReconcileReport {
  drift: Drift[];
  quarantined: Quarantine[];
  released: Drift[];
  portSecurity: (PortSecurityReport & { host: string })[];
}

export interface Reconciler {
  once(): Promise<ReconcileReport>;
  stop(): Promise<void>;
}

/** Whose port this is, from any record of the same VM (its NICs share the 8 hex digits of the name). */
async function ownerOf(
  ctx: NetworkContext,
  dev: string,
): Promise<{ workspace: string; vm: string } | undefined> {
  const prefix = `${dev.slice(0, 10)}%`;
  return (
    (await ctx.db
      .selectFrom('ports')
      .select(['workspace', 'vm'])
      .where('dev', 'like', prefix)
      .executeTakeFirst()) ??
    (await ctx.db
      .selectFrom('public_ports')
      .select(['workspace', 'vm'])
      .where('dev', 'like', prefix)
      .executeTakeFirst())
  );
}

export function createReconciler(ctx: NetworkContext): Reconciler {
  /** When a tagged port without a record was first seen (host/dev): its network task may still be coming. */
  const pending = new Map<string, number>();

  async function report(q: Quarantine): Promise<void> {
    ctx.log.warn(q, 'private port quarantined: no record explains its VLAN');
    if (!q.workspace || !q.vm) return;
    await ctx.notify?.(q.workspace, {
      kind: 'port_quarantined',
      workspace: q.workspace,
      name: q.vm,
      host: q.host,
      dev: q.dev,
      reason: q.reason,
      found: q.found ?? null,
    });
  }

  async function privateBridge(h: { name: string; address: string }, out: ReconcileReport): Promise<void> {
    const bridge = ctx.config.PRIVATE_BRIDGE;
    const live = await ctx.ovs.listPorts(h.address, bridge);
    const vlans = new Set((await ctx.db.selectFrom('networks').select('vlan').execute()).map((n) => n.vlan));
    const seen = new Set<string>();
    for (const p of live.filter((x) => VM_PORT.test(x.name))) {
      const key = `${h.name}/${p.name}`;
      seen.add(key);
      // The record of this NIC: on this host, or on the host it moved from (a failover's network task late).
      const recs = await ctx.db
        .selectFrom('ports')
        .select(['host', 'vlan'])
        .where('dev', '=', p.name)
        .execute();
      const rec = recs.find((r) => r.host === h.name) ?? recs[0];
      if (rec) {
        pending.delete(key);
        if (p.quarantine !== undefined) {
          await ctx.ovs.releasePort(h.address, p.name, rec.vlan);
          await ctx.ovs.setPortLink(h.address, bridge, p.name, true);
          out.released.push({ host: h.name, dev: p.name, expected: rec.vlan, found: p.tag });
          ctx.log.warn(
            { host: h.name, dev: p.name, vlan: rec.vlan },
            'quarantined port released: its record came',
          );
        } else if (p.tag !== rec.vlan) {
          out.drift.push({ host: h.name, dev: p.name, expected: rec.vlan, found: p.tag });
          ctx.log.warn(
            { host: h.name, dev: p.name, expected: rec.vlan, found: p.tag },
            'port tag drift; correcting',
          );
          await ctx.ovs.setPortTag(h.address, p.name, rec.vlan);
        }
        continue;
      }
      if (p.quarantine !== undefined) {
        // Reported already; kept down (a restarted switch or libvirt may have brought it up).
        await ctx.ovs.setPortLink(h.address, bridge, p.name, false);
        continue;
      }
      let reason: Quarantine['reason'] | undefined =
        p.tag === undefined ? 'untagged' : !vlans.has(p.tag) ? 'unknown-vlan' : undefined;
      if (!reason) {
        const first = pending.get(key) ?? Date.now();
        pending.set(key, first);
        if (Date.now() - first < ctx.config.ORPHAN_GRACE * 1000) continue;
        reason = 'no-record';
      }
      pending.delete(key);
      // Down first: from this moment the port neither sends nor receives, whatever its tag.
      await ctx.ovs.setPortLink(h.address, bridge, p.name, false);
      await ctx.ovs.quarantinePort(h.address, p.name, reason);
      const q: Quarantine = {
        host: h.name,
        dev: p.name,
        reason,
        found: p.tag,
        ...(await ownerOf(ctx, p.name)),
      };
      out.quarantined.push(q);
      await report(q).catch((e) => ctx.log.warn({ err: e }, 'quarantine report to the room failed'));
    }
    for (const key of pending.keys()) if (key.startsWith(`${h.name}/`) && !seen.has(key)) pending.delete(key);

    const routerPorts = await ctx.db
      .selectFrom('router_ports')
      .innerJoin('routers', 'routers.id', 'router_ports.router_id')
      .select(['router_ports.dev', 'router_ports.vlan'])
      .where('routers.host', '=', h.name)
      .execute();
    for (const w of routerPorts) {
      const l = live.find((p) => p.name === w.dev);
      if (!l || l.tag === w.vlan) continue;
      out.drift.push({ host: h.name, dev: w.dev, expected: w.vlan, found: l.tag });
      ctx.log.warn(
        { host: h.name, dev: w.dev, expected: w.vlan, found: l.tag },
        'port tag drift; correcting',
      );
      await ctx.ovs.setPortTag(h.address, w.dev, w.vlan);
    }
  }

  async function once(): Promise<ReconcileReport> {
    const out: ReconcileReport = { drift: [], quarantined: [], released: [], portSecurity: [] };
    for (const h of await ctx.hosts.all()) {
      try {
        await privateBridge(h, out);
      } catch (e) {
        ctx.log.warn({ err: e, host: h.name }, 'reconcile could not check the private bridge');
      }
      try {
        const ps = await reconcilePortSecurity(ctx, h);
        if (ps.baseline || ps.installed.length || ps.removed.length) {
          out.portSecurity.push({ host: h.name, ...ps });
          ctx.log.warn({ host: h.name, ...ps }, 'public port security rules put back');
        }
      } catch (e) {
        ctx.log.warn({ err: e, host: h.name }, 'reconcile could not check the public bridge');
      }
    }
    return out;
  }

  // Passes never overlap (the timer's and a caller's): each waits for the one before.
  let last: Promise<unknown> = Promise.resolve();
  return {
    once() {
      const p = last.then(once);
      last = p.catch(() => undefined);
      return p;
    },
    async stop() {
      await last;
    },
  };
}

/** Runs a pass at once (so a restarted service puts the public bridges' baseline back without waiting),
 * then every `intervalSeconds`. */
export function startReconciler(ctx: NetworkContext, intervalSeconds: number): Reconciler {
  const r = createReconciler(ctx);
  let stopped = false;
  let running: Promise<unknown> | undefined;
  let timer: NodeJS.Timeout | undefined;
  const tick = () => {
    running = r
      .once()
      .catch((e) => ctx.log.warn({ err: e }, 'reconcile failed'))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, intervalSeconds * 1000);
      });
  };
  tick();
  return {
    once: () => r.once(),
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
      await r.stop();
    },
  };
}
