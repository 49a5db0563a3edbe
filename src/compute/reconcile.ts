// Reconciliation (DESIGN "Reliability principles"): domains and VM directories on hosts that no record owns,
// and VMs whose inventory record is gone, are reported, and removed once orphaned for ORPHAN_GRACE seconds.
import type { ComputeContext } from './context.ts';
import { destroyVm } from './vms.ts';

type OrphanKind = 'domain' | 'dir' | 'record';
export interface ReconcileReport {
  orphans: { host: string; kind: OrphanKind; ref: string }[];
  removed: { host: string; kind: OrphanKind; ref: string }[];
}

export async function reconcileOnce(ctx: ComputeContext): Promise<ReconcileReport> {
  const report: ReconcileReport = { orphans: [], removed: [] };
  const owned = await ctx.db
    .selectFrom('vms')
    .select(['id', 'domain', 'dir', 'workspace', 'name', 'host', 'state'])
    .execute();
  const domains = new Set(owned.map((v) => v.domain));
  const dirs = new Set(owned.map((v) => v.dir));
  const hosts = await ctx.db.selectFrom('hosts').selectAll().where('up', '=', true).execute();
  const seen: { host: string; kind: OrphanKind; ref: string }[] = [];
  // A VM at rest whose inventory record is gone (its workspace was deleted) is an orphan too.
  for (const v of owned)
    if (
      (v.state === 'running' || v.state === 'stopped') &&
      (await ctx.records.exists(v.workspace, v.name)) === false
    )
      seen.push({ host: v.host, kind: 'record', ref: v.domain });
  for (const h of hosts) {
    try {
      for (const d of await ctx.hypervisor.list(h.libvirt_uri))
        if (d.startsWith('kloudak-') && !domains.has(d)) seen.push({ host: h.name, kind: 'domain', ref: d });
      for (const p of await ctx.catalogue.poolsOf(h.area))
        for (const dir of await ctx.storage.listVmDirs(h.address, p.path))
          if (!dirs.has(dir)) seen.push({ host: h.name, kind: 'dir', ref: dir });
    } catch (e) {
      ctx.log.warn({ err: e, host: h.name }, 'reconcile could not read host');
    }
  }
  // Forget orphans that are gone or owned now; remember when each current one was first seen.
  const current = await ctx.db.selectFrom('orphans').selectAll().execute();
  for (const o of current)
    if (!seen.some((s) => s.host === o.host && s.kind === o.kind && s.ref === o.ref))
      await ctx.db
        .deleteFrom('orphans')
        .where('host', '=', o.host)
        .where('kind', '=', o.kind)
        .where('ref', '=', o.ref)
        .execute();
  const graceMs = ctx.config.ORPHAN_GRACE * 1000;
  for (const s of seen) {
    report.orphans.push(s);
    await ctx.db
      .insertInto('orphans')
      .values(s)
      .onConflict((oc) => oc.columns(['host', 'kind', 'ref']).doNothing())
      .execute();
    const row = await ctx.db
      .selectFrom('orphans')
      .select('first_seen')
      .where('host', '=', s.host)
      .where('kind', '=', s.kind)
      .where('ref', '=', s.ref)
      .executeTakeFirst();
    if (!row || Date.now() - row.first_seen.getTime() < graceMs) {
      ctx.log.warn(s, 'orphan on host');
      continue;
    }
    const h = hosts.find((x) => x.name === s.host);
    if (!h) continue;
    try {
      if (s.kind === 'record') {
        await destroyVm(
          ctx,
          await ctx.db.selectFrom('vms').selectAll().where('domain', '=', s.ref).executeTakeFirst(),
        );
      } else if (s.kind === 'domain') {
        await ctx.hypervisor.destroy(h.libvirt_uri, s.ref);
        await ctx.hypervisor.undefine(h.libvirt_uri, s.ref);
      } else {
        const pool = (await ctx.catalogue.poolsOf(h.area)).find((p) => s.ref.startsWith(`${p.path}/`));
        if (pool) await ctx.storage.removeVmDir(h.address, pool.path, s.ref);
      }
      await ctx.db
        .deleteFrom('orphans')
        .where('host', '=', s.host)
        .where('kind', '=', s.kind)
        .where('ref', '=', s.ref)
        .execute();
      report.removed.push(s);
      ctx.log.warn(s, 'orphan removed');
    } catch (e) {
      ctx.log.warn({ err: e, ...s }, 'orphan removal failed');
    }
  }
  return report;
}

export function startReconciler(ctx: ComputeContext, intervalSeconds: number) {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  let stopped = false;
  const tick = () => {
    running = reconcileOnce(ctx)
      .catch((e) => ctx.log.warn({ err: e }, 'reconcile pass failed'))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, intervalSeconds * 1000);
      });
  };
  timer = setTimeout(tick, intervalSeconds * 1000);
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
