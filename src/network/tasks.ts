// What each network task does (book chapter 11): networks take a VLAN; VM NICs are OVS ports tagged with
// their network's VLAN; routers are namespaces with one tagged internal port per interface. Every step is
// idempotent: run again after a crash it finds its own work done and goes on.
import { createHash } from 'node:crypto';
import { parseSubnet } from '../lib/ipv4.ts';
import type { TaskMessage } from '../lib/messages.ts';
import type { NetworkContext } from './context.ts';
import { insertWithVlan } from './vlans.ts';

type Port = { dev: string; mac: string; network: string };
const hex8 = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 8);

async function hostAddress(ctx: NetworkContext, name: unknown): Promise<string> {
  const h = await ctx.hosts.get(String(name));
  if (!h) throw new Error(`host ${String(name)} is not registered in inventory`);
  return h.address;
}

async function network(ctx: NetworkContext, workspace: string, name: string) {
  const n = await ctx.db
    .selectFrom('networks')
    .selectAll()
    .where('workspace', '=', workspace)
    .where('name', '=', name)
    .executeTakeFirst();
  if (!n)
    throw new Error(`network ${workspace}/${name} has no VLAN (not created through the network service)`);
  return n;
}

async function router(ctx: NetworkContext, workspace: string, name: string) {
  const r = await ctx.db
    .selectFrom('routers')
    .selectAll()
    .where('workspace', '=', workspace)
    .where('name', '=', name)
    .executeTakeFirst();
  if (!r) throw new Error(`router ${workspace}/${name} does not exist on any host`);
  return r;
}

export async function tagPorts(ctx: NetworkContext, t: TaskMessage, ports: Port[]) {
  const address = await hostAddress(ctx, t.host);
  const out = [];
  for (const p of ports) {
    const n = await network(ctx, t.owner, p.network);
    await ctx.ovs.setPortTag(address, p.dev, n.vlan);
    await ctx.db
      .insertInto('ports')
      .values({
        host: String(t.host),
        dev: p.dev,
        mac: p.mac,
        workspace: t.owner,
        vm: t.name,
        network: p.network,
        vlan: n.vlan,
        task_id: t.task_id,
      })
      .onConflict((oc) =>
        oc
          .columns(['host', 'dev'])
          .doUpdateSet({ vlan: n.vlan, network: p.network, mac: p.mac, vm: t.name, workspace: t.owner }),
      )
      .execute();
    out.push({ network: p.network, mac: p.mac, vlan: n.vlan });
  }
  return out;
}

export async function dropPorts(ctx: NetworkContext, t: TaskMessage, ports: Port[]) {
  const address = await hostAddress(ctx, t.host);
  for (const p of ports) {
    // The port normally went with its domain; one left behind is removed.
    await ctx.ovs.deletePort(address, ctx.config.PRIVATE_BRIDGE, p.dev);
    await ctx.db.deleteFrom('ports').where('host', '=', String(t.host)).where('dev', '=', p.dev).execute();
  }
}

export async function runTask(ctx: NetworkContext, t: TaskMessage): Promise<Record<string, unknown>> {
  switch (`${t.type} ${t.method}`) {
    case 'network POST': {
      const vlan = await insertWithVlan(
        ctx.db,
        { workspace: t.owner, name: t.name, subnet: (t.subnet as string | null) ?? null, task_id: t.task_id },
        ctx.config.VLANS,
        ctx.config.VLANS_RESERVED,
      );
      return { vlan };
    }
    case 'network PUT': {
      const u = (t.update_dict ?? {}) as { name?: string };
      if (u.name && u.name !== t.name) {
        await ctx.db
          .updateTable('networks')
          .set({ name: u.name })
          .where('workspace', '=', t.owner)
          .where('name', '=', t.name)
          .execute();
        await ctx.db
          .updateTable('ports')
          .set({ network: u.name })
          .where('workspace', '=', t.owner)
          .where('network', '=', t.name)
          .execute();
      }
      return {};
    }
    case 'network DELETE': {
      const inUse = await ctx.db
        .selectFrom('ports')
        .select('vm')
        .where('workspace', '=', t.owner)
        .where('network', '=', t.name)
        .executeTakeFirst();
      if (inUse) throw new Error(`network ${t.name} still has a port of VM ${inUse.vm}`);
      await ctx.db
        .deleteFrom('networks')
        .where('workspace', '=', t.owner)
        .where('name', '=', t.name)
        .execute();
      return {};
    }
    case 'router POST': {
      const hosts = await ctx.hosts.all();
      if (!hosts.length) throw new Error('no host registered for a router');
      const existing = await ctx.db
        .selectFrom('routers')
        .selectAll()
        .where('workspace', '=', t.owner)
        .where('name', '=', t.name)
        .executeTakeFirst();
      let host = existing?.host;
      if (!host) {
        const load = await ctx.db
          .selectFrom('routers')
          .select(['host', (eb) => eb.fn.countAll<number>().as('n')])
          .groupBy('host')
          .execute();
        const count = (h: string) => Number(load.find((l) => l.host === h)?.n ?? 0);
        host = [...hosts].sort((a, b) => count(a.name) - count(b.name) || a.name.localeCompare(b.name))[0]
          .name;
        await ctx.db
          .insertInto('routers')
          .values({
            workspace: t.owner,
            name: t.name,
            host,
            namespace: `kr-${hex8(t.task_id)}`,
            task_id: t.task_id,
          })
          .execute();
      }
      const r = await router(ctx, t.owner, t.name);
      await ctx.routers.ensureNamespace(await hostAddress(ctx, r.host), r.namespace);
      return { host: r.host };
    }
    case 'router DELETE':
      await removeRouter(ctx, t.owner, t.name);
      return {};
    case 'interface POST': {
      const r = await router(ctx, t.owner, String(t.router));
      const n = await network(ctx, t.owner, String(t.network));
      const prefix = parseSubnet(String(t.subnet ?? n.subnet ?? ''), 8)?.prefix ?? 24;
      const dev = `kr${hex8(r.task_id)}v${n.vlan}`;
      await ctx.routers.addInterface(
        await hostAddress(ctx, r.host),
        r.namespace,
        ctx.config.PRIVATE_BRIDGE,
        dev,
        n.vlan,
        `${String(t.ip)}/${prefix}`,
      );
      await ctx.db
        .insertInto('router_ports')
        .values({ router_id: r.id, network: n.name, dev, vlan: n.vlan, ip: String(t.ip) })
        .onConflict((oc) => oc.columns(['router_id', 'network']).doNothing())
        .execute();
      return { host: r.host };
    }
    case 'interface DELETE': {
      const r = await router(ctx, t.owner, String(t.router));
      const p = await ctx.db
        .selectFrom('router_ports')
        .selectAll()
        .where('router_id', '=', r.id)
        .where('network', '=', String(t.network))
        .executeTakeFirst();
      if (p) {
        await ctx.routers.removeInterface(await hostAddress(ctx, r.host), ctx.config.PRIVATE_BRIDGE, p.dev);
        await ctx.db
          .deleteFrom('router_ports')
          .where('router_id', '=', r.id)
          .where('network', '=', p.network)
          .execute();
      }
      return {};
    }
    case 'vm POST':
      return { interfaces: await tagPorts(ctx, t, (t.interfaces as Port[]) ?? []) };
    case 'vm PUT':
      await dropPorts(ctx, t, (t.removed as Port[]) ?? []);
      return { interfaces: await tagPorts(ctx, t, (t.interfaces as Port[]) ?? []) };
    case 'vm DELETE':
      await dropPorts(ctx, t, (t.interfaces as Port[]) ?? []);
      return {};
    default:
      throw new Error(`no such network task: ${t.type} ${t.method}`);
  }
}

export async function removeRouter(ctx: NetworkContext, workspace: string, name: string) {
  const r = await ctx.db
    .selectFrom('routers')
    .selectAll()
    .where('workspace', '=', workspace)
    .where('name', '=', name)
    .executeTakeFirst();
  if (!r) return;
  const address = await hostAddress(ctx, r.host);
  for (const p of await ctx.db.selectFrom('router_ports').selectAll().where('router_id', '=', r.id).execute())
    await ctx.routers.removeInterface(address, ctx.config.PRIVATE_BRIDGE, p.dev);
  await ctx.routers.deleteNamespace(address, r.namespace);
  await ctx.db.deleteFrom('routers').where('id', '=', r.id).execute();
}

/** Undoes a failed network, router or interface creation; other rollbacks have nothing to undo here. */
export async function rollbackTask(ctx: NetworkContext, t: TaskMessage): Promise<void> {
  if (t.method !== 'POST') return;
  if (t.type === 'network')
    await ctx.db
      .deleteFrom('networks')
      .where('workspace', '=', t.owner)
      .where('name', '=', t.name)
      .where('task_id', '=', t.task_id)
      .execute();
  if (t.type === 'router') await removeRouter(ctx, t.owner, t.name);
  if (t.type === 'interface') await runTask(ctx, { ...t, method: 'DELETE' });
}
