// What each network task does (book chapter 11), one small function per task: networks take a VLAN; VM NICs
// are OVS ports tagged with their network's VLAN (compute plugs them tagged; here they are recorded and their
// tag set again), a VM's public port gets its anti-spoofing rules; routers are namespaces with one tagged
// internal port per interface. Every step is idempotent: run again after a crash it finds its own work done and goes on.
import { createHash } from 'node:crypto';
import type {
  NetworkRollback,
  NetworkTask,
  Port,
  PublicPort,
  TaskResult,
} from '../lib/contracts/messages.ts';
import type { HandlerTable, Variant } from '../lib/handlers.ts';
import { parseSubnet } from '../lib/ipv4.ts';
import type { NetworkContext } from './context.ts';
import { applyWorkspace, portCookie, recordPublicPort, unsecurePublicPort, VM_PORT } from './portsecurity.ts';
import { insertWithVlan } from './vlans.ts';

/** What a handler adds to its successful result (a network's VLAN, a router's host, a VM's tagged ports). */
export type Outcome = Omit<TaskResult, 'task_id' | 'status'>;
type Of<K extends string> = Variant<NetworkTask, K>;

type Db = Pick<NetworkContext, 'db'>;
type Routers = Pick<NetworkContext, 'db' | 'hosts' | 'routers' | 'config'>;
type Ports = Pick<NetworkContext, 'db' | 'hosts' | 'ovs' | 'config' | 'policy'>;

const hex8 = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 8);

async function hostAddress(d: Pick<NetworkContext, 'hosts'>, name: string): Promise<string> {
  const h = await d.hosts.get(name);
  if (!h) throw new Error(`host ${name} is not registered in inventory`);
  return h.address;
}

async function network(d: Db, workspace: string, name: string) {
  const n = await d.db
    .selectFrom('networks')
    .selectAll()
    .where('workspace', '=', workspace)
    .where('name', '=', name)
    .executeTakeFirst();
  if (!n)
    throw new Error(`network ${workspace}/${name} has no VLAN (not created through the network service)`);
  return n;
}

async function router(d: Db, workspace: string, name: string) {
  const r = await d.db
    .selectFrom('routers')
    .selectAll()
    .where('workspace', '=', workspace)
    .where('name', '=', name)
    .executeTakeFirst();
  if (!r) throw new Error(`router ${workspace}/${name} does not exist on any host`);
  return r;
}

/** The VM's name as its records keep it: a renaming change's new one. */
const vmName = (t: Of<'vm POST'> | Of<'vm PUT'>) => ('renamed_to' in t && t.renamed_to) || t.name;

/** A renamed VM's records take its new name: security groups find their members by it. */
async function renamePorts(d: Db, t: Of<'vm PUT'>) {
  if (!t.renamed_to) return;
  for (const table of ['ports', 'public_ports'] as const)
    await d.db
      .updateTable(table)
      .set({ vm: t.renamed_to })
      .where('workspace', '=', t.owner)
      .where('vm', '=', t.name)
      .execute();
}

/** Tags each port with its network's VLAN on the task's host, and records it. */
export async function tagPorts(
  d: Pick<NetworkContext, 'db' | 'hosts' | 'ovs'>,
  t: Of<'vm POST'> | Of<'vm PUT'>,
  ports: Port[],
) {
  const address = await hostAddress(d, t.host);
  const vm = vmName(t);
  const out = [];
  for (const p of ports) {
    const n = await network(d, t.owner, p.network);
    await d.ovs.setPortTag(address, p.dev, n.vlan);
    await d.db
      .insertInto('ports')
      .values({
        host: t.host,
        dev: p.dev,
        mac: p.mac,
        workspace: t.owner,
        vm,
        network: p.network,
        vlan: n.vlan,
        task_id: t.task_id,
      })
      .onConflict((oc) =>
        oc
          .columns(['host', 'dev'])
          .doUpdateSet({ vlan: n.vlan, network: p.network, mac: p.mac, vm, workspace: t.owner }),
      )
      .execute();
    out.push({ network: p.network, mac: p.mac, vlan: n.vlan });
  }
  return out;
}

/** Removes the ports (normally gone with their domain; one left behind is removed) and their records. */
export async function dropPorts(d: Ports, host: string, ports: Port[]) {
  const address = await hostAddress(d, host);
  for (const p of ports) {
    await d.ovs.deletePort(address, d.config.PRIVATE_BRIDGE, p.dev);
    // Its security group rules (issue 17) go too: a later port may get its OpenFlow number.
    if (VM_PORT.test(p.dev))
      await d.ovs.deleteFlows(address, d.config.PRIVATE_BRIDGE, portCookie(p.dev), 'ffffffffffffffff');
    await d.db.deleteFrom('ports').where('host', '=', host).where('dev', '=', p.dev).execute();
  }
}

/**
 * Records the VM's public port (tasks of older computes have none), then puts the workspace's rules on its
 * hosts: a VM coming changes who is in its groups (remote_group rules name members' addresses), and the new
 * port gets its own rules in the same bundle. Refused when the port is not on its host's bridge.
 */
async function portsSecured(d: Ports, t: Of<'vm POST'> | Of<'vm PUT'>, p: PublicPort | undefined) {
  if (p) await recordPublicPort(d, t.host, { workspace: t.owner, vm: vmName(t), task_id: t.task_id }, p);
  const secured = await applyWorkspace(d, t.owner);
  if (p && !secured.some((s) => s.host === t.host && s.dev === p.dev))
    throw new Error(`port ${p.dev} is not on ${d.config.PUBLIC_BRIDGE} of ${t.host}`);
}

async function publicPortDown(d: Ports, host: string, p: PublicPort | undefined): Promise<void> {
  if (!p) return;
  await unsecurePublicPort(d, { name: host, address: await hostAddress(d, host) }, p.dev);
}

async function createNetwork(
  t: Of<'network POST'>,
  d: Pick<NetworkContext, 'db' | 'config'>,
): Promise<Outcome> {
  const vlan = await insertWithVlan(
    d.db,
    { workspace: t.owner, name: t.name, subnet: t.subnet, task_id: t.task_id },
    d.config.VLANS,
    d.config.VLANS_RESERVED,
  );
  return { vlan };
}

async function renameNetwork(t: Of<'network PUT'>, d: Db): Promise<Outcome> {
  const to = t.update_dict.name;
  if (to && to !== t.name) {
    await d.db
      .updateTable('networks')
      .set({ name: to })
      .where('workspace', '=', t.owner)
      .where('name', '=', t.name)
      .execute();
    await d.db
      .updateTable('ports')
      .set({ network: to })
      .where('workspace', '=', t.owner)
      .where('network', '=', t.name)
      .execute();
  }
  return {};
}

/** Refused while a VM's NIC is on the network. Inventory accepts the delete only when none of its VMs links
 * to the network, so a port record left here is a NIC still going (a rolled-back create's ports go by a
 * follow-up nobody waits for) or a left-over: its delete's follow-up never came (compute killed between
 * removing the domain and recording that it had). A record whose port is on its host, or whose VM inventory
 * still has, refuses the delete; a left-over goes. */
async function deleteNetwork(
  t: Of<'network DELETE'>,
  d: Ports & Pick<NetworkContext, 'log'>,
): Promise<Outcome> {
  const records = await d.db
    .selectFrom('ports')
    .select(['host', 'dev', 'mac', 'network', 'vm'])
    .where('workspace', '=', t.owner)
    .where('network', '=', t.name)
    .execute();
  if (records.length) {
    const vms = new Set((await d.policy.vms(t.owner)).map((v) => v.name));
    // A host since removed from the catalogue has no switch of ours: its records are left-overs.
    const hosts = new Map<string, Awaited<ReturnType<typeof d.hosts.get>>>();
    for (const r of records) if (!hosts.has(r.host)) hosts.set(r.host, await d.hosts.get(r.host));
    for (const r of records) {
      const host = hosts.get(r.host);
      if (vms.has(r.vm) || (host && (await d.ovs.portTag(host.address, r.dev)) !== null))
        throw new Error(`network ${t.name} still has a port of VM ${r.vm}`);
    }
    for (const r of records)
      if (hosts.get(r.host)) await dropPorts(d, r.host, [r]);
      else await d.db.deleteFrom('ports').where('host', '=', r.host).where('dev', '=', r.dev).execute();
    d.log.warn(
      { workspace: t.owner, network: t.name, ports: records.map((r) => `${r.host}/${r.dev} (${r.vm})`) },
      'left-over port records of VMs that are gone, removed with their network',
    );
  }
  await d.db.deleteFrom('networks').where('workspace', '=', t.owner).where('name', '=', t.name).execute();
  return {};
}

/** Places the router on the host with the fewest routers (once: a redelivery finds it) and makes its namespace. */
async function createRouter(
  t: Of<'router POST'>,
  d: Pick<NetworkContext, 'db' | 'hosts' | 'routers'>,
): Promise<Outcome> {
  const hosts = await d.hosts.all();
  if (!hosts.length) throw new Error('no host registered for a router');
  const existing = await d.db
    .selectFrom('routers')
    .selectAll()
    .where('workspace', '=', t.owner)
    .where('name', '=', t.name)
    .executeTakeFirst();
  if (!existing) {
    const load = await d.db
      .selectFrom('routers')
      .select(['host', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy('host')
      .execute();
    const count = (h: string) => Number(load.find((l) => l.host === h)?.n ?? 0);
    const host = [...hosts].sort((a, b) => count(a.name) - count(b.name) || a.name.localeCompare(b.name))[0]
      .name;
    await d.db
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
  const r = await router(d, t.owner, t.name);
  await d.routers.ensureNamespace(await hostAddress(d, r.host), r.namespace);
  return { host: r.host };
}

/** Removes a router's interfaces and namespace, and its record; done when there is none. */
export async function removeRouter(d: Routers, workspace: string, name: string) {
  const r = await d.db
    .selectFrom('routers')
    .selectAll()
    .where('workspace', '=', workspace)
    .where('name', '=', name)
    .executeTakeFirst();
  if (!r) return;
  const address = await hostAddress(d, r.host);
  for (const p of await d.db.selectFrom('router_ports').selectAll().where('router_id', '=', r.id).execute())
    await d.routers.removeInterface(address, d.config.PRIVATE_BRIDGE, p.dev);
  await d.routers.deleteNamespace(address, r.namespace);
  await d.db.deleteFrom('routers').where('id', '=', r.id).execute();
}

async function addInterface(t: Of<'interface POST'>, d: Routers): Promise<Outcome> {
  const r = await router(d, t.owner, t.router);
  const n = await network(d, t.owner, t.network);
  const prefix = parseSubnet(t.subnet ?? n.subnet ?? '', 8)?.prefix ?? 24;
  const dev = `kr${hex8(r.task_id)}v${n.vlan}`;
  await d.routers.addInterface(
    await hostAddress(d, r.host),
    r.namespace,
    d.config.PRIVATE_BRIDGE,
    dev,
    n.vlan,
    `${t.ip}/${prefix}`,
  );
  await d.db
    .insertInto('router_ports')
    .values({ router_id: r.id, network: n.name, dev, vlan: n.vlan, ip: t.ip })
    .onConflict((oc) => oc.columns(['router_id', 'network']).doNothing())
    .execute();
  return { host: r.host };
}

async function removeInterface(
  t: { owner: string; router: string; network: string },
  d: Routers,
): Promise<Outcome> {
  const r = await router(d, t.owner, t.router);
  const p = await d.db
    .selectFrom('router_ports')
    .selectAll()
    .where('router_id', '=', r.id)
    .where('network', '=', t.network)
    .executeTakeFirst();
  if (p) {
    await d.routers.removeInterface(await hostAddress(d, r.host), d.config.PRIVATE_BRIDGE, p.dev);
    await d.db
      .deleteFrom('router_ports')
      .where('router_id', '=', r.id)
      .where('network', '=', p.network)
      .execute();
  }
  return {};
}

/** A VM's ports on a host recorded, tagged and its public port secured, answered to the caller (compute's
 * live migration waits for it before the switch-over). */
export async function preparePorts(d: NetworkContext, t: Of<'vm POST'>) {
  const interfaces = await tagPorts(d, t, t.interfaces);
  // Every host's rules, the new port's host included, before a migration's switch-over.
  await portsSecured(d, t, t.public);
  return { interfaces };
}

/** The network queue's tasks. */
export const networkTasks: HandlerTable<NetworkTask, NetworkContext, Outcome> = {
  'network POST': createNetwork,
  'network PUT': renameNetwork,
  'network DELETE': deleteNetwork,
  'router POST': createRouter,
  'router DELETE': async (t, d) => (await removeRouter(d, t.owner, t.name), {}),
  'interface POST': addInterface,
  'interface DELETE': removeInterface,
  'vm POST': (t, d) => preparePorts(d, t),
  'vm PUT': async (t, d) => {
    await renamePorts(d, t);
    await dropPorts(d, t.host, t.removed);
    const interfaces = await tagPorts(d, t, t.interfaces);
    // public: given when the change started the VM again (a resize): its port is a new OpenFlow port.
    await portsSecured(d, t, t.public);
    return { interfaces };
  },
  'vm DELETE': async (t, d) => {
    await dropPorts(d, t.host, t.interfaces);
    await publicPortDown(d, t.host, t.public);
    await applyWorkspace(d, t.owner);
    return {};
  },
  // Inventory has the group as the task wants it (written when it was accepted).
  'security_group POST': async (t, d) => (await applyWorkspace(d, t.owner), {}),
  'security_group PUT': async (t, d) => (await applyWorkspace(d, t.owner), {}),
  'security_group DELETE': async (t, d) => (await applyWorkspace(d, t.owner), {}),
};

const nothing = async () => undefined;

/** Rollbacks undo a failed network, router or interface creation; other tasks have nothing to undo here. */
export const networkRollbacks: HandlerTable<NetworkRollback, NetworkContext, void> = {
  'network POST': async (t, d) =>
    void (await d.db
      .deleteFrom('networks')
      .where('workspace', '=', t.owner)
      .where('name', '=', t.name)
      .where('task_id', '=', t.task_id)
      .execute()),
  'router POST': async (t, d) => removeRouter(d, t.owner, t.name),
  'interface POST': async (t, d) => void (await removeInterface(t, d)),
  'network PUT': nothing,
  'network DELETE': nothing,
  'router DELETE': nothing,
  'interface DELETE': nothing,
  // The controller puts inventory back after this: the hosts get the rules as they were meanwhile.
  'security_group POST': async (t, d) =>
    void (await applyWorkspace(d, t.owner, { group: t.name, rules: [] })),
  'security_group PUT': async (t, d) =>
    void (await applyWorkspace(d, t.owner, { group: t.name, rules: t.previous_rules })),
  'security_group DELETE': nothing,
};
