// Reconciliation: on every host, OVS ports whose tag disagrees with the records are reported and corrected.
import type { NetworkContext } from './context.ts';

export interface Drift {
  host: string;
  dev: string;
  expected: number;
  found?: number;
}

export async function reconcileTags(ctx: NetworkContext): Promise<Drift[]> {
  const drift: Drift[] = [];
  const ports = await ctx.db.selectFrom('ports').select(['host', 'dev', 'vlan']).execute();
  const routerPorts = await ctx.db
    .selectFrom('router_ports')
    .innerJoin('routers', 'routers.id', 'router_ports.router_id')
    .select(['routers.host', 'router_ports.dev', 'router_ports.vlan'])
    .execute();
  const want = [...ports, ...routerPorts];
  for (const h of await ctx.hosts.all()) {
    let live;
    try {
      live = await ctx.ovs.listPorts(h.address, ctx.config.PRIVATE_BRIDGE);
    } catch (e) {
      ctx.log.warn({ err: e, host: h.name }, 'reconcile could not read host');
      continue;
    }
    for (const w of want.filter((p) => p.host === h.name)) {
      const l = live.find((p) => p.name === w.dev);
      if (!l || l.tag === w.vlan) continue;
      drift.push({ host: h.name, dev: w.dev, expected: w.vlan, found: l.tag });
      ctx.log.warn(
        { host: h.name, dev: w.dev, expected: w.vlan, found: l.tag },
        'port tag drift; correcting',
      );
      await ctx.ovs
        .setPortTag(h.address, w.dev, w.vlan)
        .catch((e) => ctx.log.warn({ err: e }, 'correcting a tag failed'));
    }
  }
  return drift;
}

export function startTagReconciler(ctx: NetworkContext, intervalSeconds: number) {
  let stopped = false;
  let running: Promise<unknown> | undefined;
  let timer: NodeJS.Timeout | undefined;
  const tick = () => {
    running = reconcileTags(ctx)
      .catch((e) => ctx.log.warn({ err: e }, 'tag reconcile failed'))
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
