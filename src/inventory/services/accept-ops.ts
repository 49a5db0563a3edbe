// One handler per accept op (src/lib/contracts/accepts.ts): the checks a request needs, in the words the
// controller's API uses (a 4xx naming the field), then its writes, each followed by how to undo it. Everything
// in c.transaction commits together with the journal row, or not at all. A create names its share of the
// workspace's quotas before its writes (share); the share is taken after them, last (services/quotas.ts).
import type { AcceptBody, NetworkRef } from '../../lib/contracts/accepts.ts';
import type { Network, Vm } from '../../lib/contracts/inventory.ts';
import { isForeignKeyViolation, isUniqueViolation } from '../../lib/db.ts';
import { conflict, inputError, notFound } from '../../lib/errors.ts';
import { inSubnet, parseIp, parseSubnet } from '../../lib/ipv4.ts';
import type { Repositories } from '../repositories/index.ts';
import type { AcceptHandlers } from './accepts.ts';
import { followCursor, insertVmWithAddress, linkNic, type AreaRow } from './addresses.ts';
import type { VmValues } from './accepts.ts';

/** The database's refusals of a write as 409s naming the record. */
const refusals = (kind: string, name: string) => (e: unknown) => {
  if (isUniqueViolation(e)) throw conflict('name', `${kind} ${name} exists`);
  if (isForeignKeyViolation(e)) throw conflict('name', `${kind} ${name} is in use`);
  throw e;
};

/** The names, when every one is a security group of the workspace; an unknown one is a 400 naming `field`. */
async function groupsNamed(
  tx: Pick<Repositories, 'securityGroups'>,
  workspaceId: number,
  names: string[],
  field: string,
) {
  if (!names.length) return names;
  const have = await tx.securityGroups.names(workspaceId);
  const missing = names.find((n) => !have.has(n));
  if (missing) throw inputError(field, `no security group ${missing} in this workspace`);
  return names;
}

/** The workspace's networks of these names, in that order; an unknown one is a 400 naming `networks`. */
async function networksNamed(tx: Pick<Repositories, 'networks'>, workspaceId: number, names: string[]) {
  if (!names.length) return [];
  const rows = await tx.networks.byNames(workspaceId, names);
  return names.map((n) => {
    const r = rows.find((x) => x.name === n);
    if (!r) throw inputError('networks', `no network ${n} in this workspace`);
    // Compute plugs a private NIC with its VLAN in the domain XML: a network still being made has none yet.
    if (!Number.isInteger(r.vlan))
      throw conflict('networks', `network ${n} has no VLAN yet (state ${r.state})`);
    return r;
  });
}
const ref = (n: { name: string; vlan: number | null; subnet: string | null }): NetworkRef => ({
  name: n.name,
  vlan: n.vlan,
  subnet: n.subnet,
});

function checkSubnet(subnet: string | null | undefined) {
  if (subnet && !parseSubnet(subnet, 8))
    throw inputError('subnet', 'subnet must be an IPv4 network a.b.c.d/p (prefix 8-30, no host bits)');
}

async function vmView(tx: Pick<Repositories, 'vms'>, workspaceId: number, name: string): Promise<Vm> {
  const [vm] = await tx.vms.views(workspaceId, { name });
  if (!vm) throw notFound('name', `no vm ${name}`);
  return vm;
}

async function routerOf(tx: Pick<Repositories, 'routers'>, workspaceId: number, name: string) {
  const r = await tx.routers.view(workspaceId, name);
  if (!r) throw notFound('router', `no router ${name}`);
  return r;
}

async function networkOf(tx: Pick<Repositories, 'networks'>, workspaceId: number, name: string) {
  const n = await tx.networks.one(workspaceId, name);
  if (!n) throw inputError('network', `no network ${name} in this workspace`);
  return n;
}

const networkView = (n: Network & { id?: number }): Network => ({
  name: n.name,
  description: n.description,
  state: n.state,
  vlan: n.vlan,
  subnet: n.subnet,
});

export const ACCEPT_HANDLERS: AcceptHandlers = {
  async 'vm-create'(c, b) {
    let area: AreaRow | undefined;
    const answer = await c
      .transaction(async (tx, wrote, share) => {
        // The area is read, not locked: creates in one area do not queue behind each other (addresses.ts).
        const found = await tx.areas.withTemplate(b.area, b.template);
        if (!found) throw inputError('area', `no area ${b.area}`);
        const t = found;
        if (t.template_id === null) throw inputError('template', `no template ${b.template}`);
        area = found;
        const cpu = t.cpu ?? 0;
        const ram = t.ram ?? 0;
        await share({
          quotas: { vms: 1, vcpus: cpu, ram, disk: t.disk ?? 0 },
          publicIpIn: found.id,
        });
        const nets = await networksNamed(tx, c.workspaceId, b.networks ?? []);
        const groups = await groupsNamed(tx, c.workspaceId, b.security_groups ?? [], 'security_groups');
        // The record and its address (a lease of the area, going back with the record and with the undo).
        const vm = await insertVmWithAddress(tx, found, {
          workspace_id: c.workspaceId,
          name: b.name,
          description: b.description ?? '',
          state: 'C_D',
          template_id: t.template_id,
          cpu,
          ram,
          security_groups: JSON.stringify(groups),
          affinity_group: b.affinity_group ?? null,
          task: c.task,
        });
        wrote({ made: 'vms', id: vm.id });
        const interfaces = [];
        for (const n of nets)
          interfaces.push({ network: n.name, ip: await linkNic(tx, vm.id, n), mac: null });
        return {
          vm: {
            name: b.name,
            description: b.description ?? '',
            ip: vm.ip,
            state: 'C_D' as const,
            host: null,
            area: b.area,
            template: b.template,
            cpu,
            ram,
            networks: nets.map((n) => n.name),
            interfaces,
            security_groups: groups,
            affinity_group: b.affinity_group ?? null,
          },
          template: {
            name: b.template,
            description: t.template_description ?? '',
            os: t.os ?? '',
            cpu: t.cpu ?? 0,
            ram: t.ram ?? 0,
            disk: t.disk ?? 0,
            image: t.image ?? '',
            kernel: t.kernel,
            initrd: t.initrd,
            cmdline: t.cmdline,
          },
          area: { name: b.area, subnet: found.subnet, gateway: found.gateway },
          networks: nets.map(ref),
        };
      })
      .catch(refusals('vm', b.name));
    if (area && answer.vm.ip) await followCursor(c.store, area, answer.vm.ip);
    return answer;
  },

  'vm-update': (c, b) =>
    c.transaction(async (tx, wrote, share) => {
      const vm = await vmView(tx, c.workspaceId, b.name);
      if (b.rename !== undefined && b.rename !== b.name && (await tx.vms.exists(c.workspaceId, b.rename)))
        throw conflict('update_dict.name', `vm ${b.rename} exists`);
      const networks =
        b.networks === undefined ? undefined : (await networksNamed(tx, c.workspaceId, b.networks)).map(ref);
      // Written now, each with its undo: the groups (the network service reads them during the task) and a new
      // size (so that it counts against the quotas from now on: two resizes cannot both take the last vCPU).
      const set: { security_groups?: string; cpu?: number; ram?: number } = {};
      const was: VmValues = {};
      if (b.security_groups !== undefined) {
        const groups = await groupsNamed(tx, c.workspaceId, b.security_groups, 'update_dict.security_groups');
        set.security_groups = JSON.stringify(groups);
        was.security_groups = vm.security_groups;
      }
      if (b.cpu !== undefined || b.ram !== undefined) {
        const cpu = b.cpu ?? vm.cpu;
        const ram = b.ram ?? vm.ram;
        // Only growth is checked: a VM shrinks even in a workspace over a lowered limit (and gives back).
        await share({ quotas: { vcpus: cpu - vm.cpu, ram: ram - vm.ram } });
        Object.assign(set, { cpu, ram });
        Object.assign(was, { cpu: vm.cpu, ram: vm.ram });
      }
      if (Object.keys(set).length) {
        const row = await tx.vms.lock(c.workspaceId, b.name);
        if (!row) throw notFound('name', `no vm ${b.name}`);
        await tx.vms.update(row.id, { ...set, updated_at: new Date() });
        wrote({ table: 'vms', id: row.id, values: was });
      }
      return networks ? { vm, networks } : { vm };
    }),

  'vm-delete': (c, b) =>
    c.transaction(async (tx, wrote) => {
      const row = await tx.vms.lock(c.workspaceId, b.name);
      if (!row) throw notFound('name', `no vm ${b.name}`);
      const vm = await vmView(tx, c.workspaceId, b.name);
      await tx.vms.update(row.id, { state: 'X', updated_at: new Date() });
      wrote({ table: 'vms', id: row.id, from: vm.state, to: 'X' });
      return { vm };
    }),

  async 'network-create'(c, b: AcceptBody<'network-create'>) {
    checkSubnet(b.subnet);
    return c
      .transaction(async (tx, wrote, share) => {
        await share({ quotas: { networks: 1 }, vlan: true });
        const network = {
          name: b.name,
          description: b.description ?? '',
          state: 'C' as const,
          vlan: null,
          subnet: b.subnet ?? null,
        };
        const id = await tx.networks.insertId({ ...network, workspace_id: c.workspaceId, task: c.task });
        wrote({ made: 'networks', id });
        return { network };
      })
      .catch(refusals('network', b.name));
  },

  'network-update': (c, b) =>
    c.transaction(async (tx) => {
      const network = await tx.networks.one(c.workspaceId, b.name);
      if (!network) throw notFound('name', `no network ${b.name}`);
      if (b.rename !== undefined && b.rename !== b.name && (await tx.networks.one(c.workspaceId, b.rename)))
        throw conflict('update_dict.name', `network ${b.rename} exists`);
      return { network };
    }),

  'network-delete': (c, b) =>
    c.transaction(async (tx, wrote) => {
      const net = await tx.networks.lockView(c.workspaceId, b.name);
      if (!net) throw notFound('name', `no network ${b.name}`);
      const users = await tx.networks.vmsOn(net.id, 20);
      if (users.length) throw conflict('name', `network ${b.name} is used by VMs ${users.join(', ')}`);
      const router = await tx.networks.routerOn(net.id);
      if (router) throw conflict('name', `network ${b.name} has an interface of router ${router}`);
      await tx.networks.update(c.workspaceId, b.name, { state: 'X' });
      wrote({ table: 'networks', id: net.id, from: net.state, to: 'X' });
      return { network: networkView(net) };
    }),

  'router-create': (c, b) =>
    c
      .transaction(async (tx, wrote, share) => {
        await share({ quotas: { routers: 1 } });
        const router = { name: b.name, state: 'C' as const, host: null };
        const id = await tx.routers.insertId({ ...router, workspace_id: c.workspaceId, task: c.task });
        wrote({ made: 'routers', id });
        return { router };
      })
      .catch(refusals('router', b.name)),

  'router-delete': (c, b) =>
    c.transaction(async (tx, wrote) => {
      const r = await tx.routers.lockView(c.workspaceId, b.name);
      if (!r) throw notFound('name', `no router ${b.name}`);
      const interfaces = await tx.interfaces.list(r.id);
      await tx.routers.update(c.workspaceId, b.name, { state: 'X' });
      wrote({ table: 'routers', id: r.id, from: r.state, to: 'X' });
      return { router: { name: r.name, state: r.state, host: r.host }, interfaces };
    }),

  'interface-create': (c, b) =>
    c.transaction(async (tx) => {
      const r = await routerOf(tx, c.workspaceId, b.router);
      const network = await networkOf(tx, c.workspaceId, b.network);
      const ip = parseIp(b.ip);
      const subnet = network.subnet ? parseSubnet(network.subnet, 8) : undefined;
      if (ip === undefined || (subnet && !inSubnet(ip, subnet)))
        throw inputError('ip', `ip must be a host address of ${network.subnet ?? 'IPv4'}`);
      if (await tx.interfaces.one(r.id, b.network))
        throw conflict('network', `router ${b.router} already has an interface on ${b.network}`);
      return { router: { name: r.name, state: r.state, host: r.host }, network };
    }),

  'interface-delete': (c, b) =>
    c.transaction(async (tx) => {
      const r = await routerOf(tx, c.workspaceId, b.router);
      const network = await networkOf(tx, c.workspaceId, b.network);
      const i = await tx.interfaces.one(r.id, b.network);
      if (!i) throw inputError('network', `router ${b.router} has no interface on ${b.network}`);
      return { router: { name: r.name, state: r.state, host: r.host }, network, interface: i };
    }),
};
