// VM records: members read them, only services write them (users go through the controller). A VM holds its
// area address: the lease is attached to the record and goes back to the area when the record goes.
import type { Principal } from '../../lib/auth.ts';
import type { AffinityGroup, Vm, VmBody, VmUpdate } from '../../lib/contracts/inventory.ts';
import { isUniqueViolation } from '../../lib/db.ts';
import { conflict, inputError, notFound } from '../../lib/errors.ts';
import { inSubnet, parseIp, parseSubnet } from '../../lib/ipv4.ts';
import type { Page, Repositories, Store } from '../repositories/index.ts';
import { membership, requireNotDeleting, requireServiceWriter } from './access.ts';
import { attachLease, linkNic } from './addresses.ts';

/** The workspace's networks of these names; an unknown one is a 400 naming `networks`. */
async function networksNamed(tx: Pick<Repositories, 'networks'>, workspaceId: number, names: string[]) {
  if (!names.length) return new Map<string, { id: number; subnet: string | null }>();
  const rows = await tx.networks.byNames(workspaceId, names);
  const found = new Map(rows.map((r) => [r.name, { id: r.id, subnet: r.subnet }]));
  const missing = names.find((n) => !found.has(n));
  if (missing) throw inputError('networks', `no network ${missing} in this workspace`);
  return found;
}

/** The names, when every one is a security group of the workspace; an unknown one is a 400 naming
 * `security_groups`. */
async function groupsNamed(tx: Pick<Repositories, 'securityGroups'>, workspaceId: number, names: string[]) {
  if (!names.length) return names;
  const have = await tx.securityGroups.names(workspaceId);
  const missing = names.find((n) => !have.has(n));
  if (missing) throw inputError('security_groups', `no security group ${missing} in this workspace`);
  return names;
}

export function vmsService(store: Store) {
  const get = async (workspaceId: number, name: string): Promise<Vm> => {
    const [vm] = await store.vms.views(workspaceId, { name });
    if (!vm) throw notFound('name', `no vm ${name}`);
    return vm;
  };
  const exists = (name: string | undefined) => (e: unknown) => {
    if (isUniqueViolation(e)) throw conflict('name', `vm ${String(name)} exists`);
    throw e;
  };
  return {
    async list(p: Principal, ws: string, page: Page) {
      const m = await membership(store, p, ws);
      return store.vms.views(m.workspaceId, page);
    },

    async get(p: Principal, ws: string, name: string) {
      return get((await membership(store, p, ws)).workspaceId, name);
    },

    async create(p: Principal, ws: string, b: VmBody) {
      const m = await requireServiceWriter(store, p, ws);
      requireNotDeleting(m, ws);
      await store
        .transaction(async (tx) => {
          const area = await tx.areas.idOf(b.area);
          if (!area) throw inputError('area', `no area ${b.area}`);
          const template = await tx.templates.row(b.template);
          if (!template) throw inputError('template', `no template ${b.template}`);
          const nets = await networksNamed(tx, m.workspaceId, b.networks ?? []);
          const vmId = await tx.vms.insert({
            workspace_id: m.workspaceId,
            name: b.name,
            description: b.description ?? '',
            ip: b.ip ?? null,
            state: b.state ?? 'C_D',
            area_id: area.id,
            template_id: template.id,
            cpu: b.cpu ?? template.cpu,
            ram: b.ram ?? template.ram,
            host: b.host ?? null,
            task: b.task ?? null,
            security_groups: JSON.stringify(await groupsNamed(tx, m.workspaceId, b.security_groups ?? [])),
            affinity_group: b.affinity_group ?? null,
          });
          // Inventory gives each NIC on a network with a subnet its address.
          for (const n of nets.values()) await linkNic(tx, vmId, n);
          if (b.ip) await attachLease(tx, vmId, area.id, b.ip);
        })
        .catch(exists(b.name));
      return get(m.workspaceId, b.name);
    },

    async update(p: Principal, ws: string, name: string, b: VmUpdate) {
      const m = await requireServiceWriter(store, p, ws);
      await store
        .transaction(async (tx) => {
          const vm = await tx.vms.lock(m.workspaceId, name);
          if (!vm) throw notFound('name', `no vm ${name}`);
          const set: Parameters<Repositories['vms']['update']>[1] = {};
          if (b.name !== undefined) set.name = b.name;
          if (b.description !== undefined) set.description = b.description;
          if (b.state !== undefined) set.state = b.state;
          if (b.host !== undefined) set.host = b.host;
          if (b.cpu !== undefined) set.cpu = b.cpu;
          if (b.ram !== undefined) set.ram = b.ram;
          if (b.security_groups !== undefined)
            set.security_groups = JSON.stringify(await groupsNamed(tx, m.workspaceId, b.security_groups));
          if (b.affinity_group !== undefined) set.affinity_group = b.affinity_group;
          if (Object.keys(set).length) await tx.vms.update(vm.id, { ...set, updated_at: new Date() });
          if (b.networks) {
            const nets = await networksNamed(tx, m.workspaceId, b.networks);
            await tx.vms.unlinkOthers(
              vm.id,
              [...nets.values()].map((n) => n.id),
            );
            const present = await tx.vms.linkedNetworks(vm.id);
            for (const n of nets.values()) if (!present.has(n.id)) await linkNic(tx, vm.id, n);
          }
          for (const i of b.interfaces ?? []) {
            const n = (await networksNamed(tx, m.workspaceId, [i.network])).get(i.network)!;
            // An absent ip keeps the address inventory gave; null clears it.
            if (i.ip) {
              const s = n.subnet ? parseSubnet(n.subnet, 8) : undefined;
              const a = parseIp(i.ip.split('/')[0]);
              if (a === undefined || (s && !inSubnet(a, s)))
                throw inputError('interfaces', `ip ${i.ip} is not in network ${i.network}`);
            }
            const changed = await tx.vms.setNic(vm.id, n.id, {
              ...(i.ip !== undefined ? { ip: i.ip } : {}),
              ...(i.mac ? { mac: i.mac } : {}),
            });
            if (!changed) throw inputError('interfaces', `vm is not on network ${i.network}`);
          }
        })
        .catch(exists(b.name));
      return get(m.workspaceId, b.name ?? name);
    },

    /** The workspace's anti-affinity groups (every group some VM of it names), for its members. */
    async affinityGroups(p: Principal, ws: string): Promise<AffinityGroup[]> {
      const m = await membership(store, p, ws);
      const groups = new Map<string, { name: string; host: string | null }[]>();
      for (const v of await store.vms.grouped(m.workspaceId)) {
        const g = v.affinity_group!;
        groups.set(g, [...(groups.get(g) ?? []), { name: v.name, host: v.host }]);
      }
      return [...groups].map(([name, vms]) => {
        const hosts = vms.flatMap((v) => (v.host ? [v.host] : []));
        return { name, policy: 'anti_affinity' as const, vms, spread: new Set(hosts).size === hosts.length };
      });
    },

    /** With `task`, only a record that task created (the undo of an interrupted accept). */
    async remove(p: Principal, ws: string, name: string, task?: string) {
      const m = await requireServiceWriter(store, p, ws);
      if (!(await store.vms.remove(m.workspaceId, name, task))) throw notFound('name', `no vm ${name}`);
      return { name, deleted: true as const };
    },
  };
}
export type VmsService = ReturnType<typeof vmsService>;
