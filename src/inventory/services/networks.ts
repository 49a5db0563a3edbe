// Network, router and router-interface records: members read them, only services write them.
import type { Principal } from '../../lib/auth.ts';
import type {
  InterfaceBody,
  NetworkBody,
  NetworkUpdate,
  RouterBody,
  RouterUpdate,
} from '../../lib/contracts/inventory.ts';
import { isForeignKeyViolation, isUniqueViolation } from '../../lib/db.ts';
import { conflict, inputError, notFound } from '../../lib/errors.ts';
import { inSubnet, parseIp, parseSubnet } from '../../lib/ipv4.ts';
import type { Page, Store } from '../repositories/index.ts';
import { membership, requireNotDeleting, requireServiceWriter } from './access.ts';

function checkSubnet(subnet: string | null | undefined) {
  if (subnet && !parseSubnet(subnet, 8))
    throw inputError('subnet', 'subnet must be an IPv4 network a.b.c.d/p (prefix 8-30, no host bits)');
}

/** Turns the database's refusals of a write into 409s naming the record. */
const refusals = (kind: string, name: string) => (e: unknown) => {
  if (isUniqueViolation(e)) throw conflict('name', `${kind} ${name} exists`);
  if (isForeignKeyViolation(e))
    throw conflict('name', `${kind} ${name} is in use by VMs or router interfaces`);
  throw e;
};

/** The given (not undefined) values of these fields of a body: a PUT changes only those, and a field the
 * schema does not name is never written. */
function given<T extends object, K extends keyof T>(b: T, fields: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const f of fields) if (b[f] !== undefined) out[f] = b[f];
  return out;
}
const NETWORK_FIELDS = ['name', 'description', 'state', 'vlan', 'subnet'] as const;
const ROUTER_FIELDS = ['name', 'state', 'host'] as const;

export function networksService(store: Store) {
  const network = async (workspaceId: number, name: string) => {
    const n = await store.networks.one(workspaceId, name);
    if (!n) throw notFound('name', `no network ${name}`);
    return n;
  };
  return {
    async list(p: Principal, ws: string, page: Page) {
      return store.networks.list((await membership(store, p, ws)).workspaceId, page);
    },
    async get(p: Principal, ws: string, name: string) {
      return network((await membership(store, p, ws)).workspaceId, name);
    },
    async create(p: Principal, ws: string, b: NetworkBody) {
      const m = await requireServiceWriter(store, p, ws);
      requireNotDeleting(m, ws);
      checkSubnet(b.subnet);
      await store.networks
        .insert({
          description: '',
          state: 'C',
          ...given(b, NETWORK_FIELDS),
          name: b.name,
          ...(b.task ? { task: b.task } : {}),
          workspace_id: m.workspaceId,
        })
        .catch(refusals('network', b.name));
      return network(m.workspaceId, b.name);
    },
    async update(p: Principal, ws: string, name: string, b: NetworkUpdate) {
      const m = await requireServiceWriter(store, p, ws);
      checkSubnet(b.subnet);
      const set = given(b, NETWORK_FIELDS);
      if (!Object.keys(set).length) throw inputError('body', 'nothing to change');
      const renamed = b.name ?? name;
      const updated = await store.networks
        .update(m.workspaceId, name, set)
        .catch(refusals('network', renamed));
      if (!updated) throw notFound('name', `no network ${name}`);
      return network(m.workspaceId, renamed);
    },
    /** With `task`, only a record that task created (the undo of an interrupted accept). */
    async remove(p: Principal, ws: string, name: string, task?: string) {
      const m = await requireServiceWriter(store, p, ws);
      const deleted = await store.networks.remove(m.workspaceId, name, task).catch(refusals('network', name));
      if (!deleted) throw notFound('name', `no network ${name}`);
      return { name, deleted: true as const };
    },
  };
}

export function routersService(store: Store) {
  const router = async (workspaceId: number, name: string) => {
    const r = await store.routers.one(workspaceId, name);
    if (!r) throw notFound('name', `no router ${name}`);
    return r;
  };
  /** The router's id, or a 404 naming `router`. */
  const routerId = async (workspaceId: number, name: string) => {
    const r = await store.routers.idOf(workspaceId, name);
    if (!r) throw notFound('router', `no router ${name}`);
    return r.id;
  };
  const noInterface = (router: string, network: string) =>
    notFound('network', `router ${router} has no interface on ${network}`);
  return {
    async list(p: Principal, ws: string, page: Page) {
      return store.routers.list((await membership(store, p, ws)).workspaceId, page);
    },
    async get(p: Principal, ws: string, name: string) {
      return router((await membership(store, p, ws)).workspaceId, name);
    },
    async create(p: Principal, ws: string, b: RouterBody) {
      const m = await requireServiceWriter(store, p, ws);
      requireNotDeleting(m, ws);
      await store.routers
        .insert({
          state: 'C',
          ...given(b, ROUTER_FIELDS),
          name: b.name,
          ...(b.task ? { task: b.task } : {}),
          workspace_id: m.workspaceId,
        })
        .catch(refusals('router', b.name));
      return router(m.workspaceId, b.name);
    },
    async update(p: Principal, ws: string, name: string, b: RouterUpdate) {
      const m = await requireServiceWriter(store, p, ws);
      const set = given(b, ROUTER_FIELDS);
      if (!Object.keys(set).length) throw inputError('body', 'nothing to change');
      const renamed = b.name ?? name;
      const updated = await store.routers.update(m.workspaceId, name, set).catch(refusals('router', renamed));
      if (!updated) throw notFound('name', `no router ${name}`);
      return router(m.workspaceId, renamed);
    },
    async remove(p: Principal, ws: string, name: string, task?: string) {
      const m = await requireServiceWriter(store, p, ws);
      const deleted = await store.routers.remove(m.workspaceId, name, task).catch(refusals('router', name));
      if (!deleted) throw notFound('name', `no router ${name}`);
      return { name, deleted: true as const };
    },

    async interfaces(p: Principal, ws: string, name: string) {
      const m = await membership(store, p, ws);
      return store.interfaces.list(await routerId(m.workspaceId, name));
    },
    async interface(p: Principal, ws: string, name: string, network: string) {
      const m = await membership(store, p, ws);
      const i = await store.interfaces.one(await routerId(m.workspaceId, name), network);
      if (!i) throw noInterface(name, network);
      return i;
    },
    async addInterface(p: Principal, ws: string, name: string, b: InterfaceBody) {
      const m = await requireServiceWriter(store, p, ws);
      requireNotDeleting(m, ws);
      const id = await routerId(m.workspaceId, name);
      const [net] = await store.networks.byNames(m.workspaceId, [b.network]);
      if (!net) throw inputError('network', `no network ${b.network} in this workspace`);
      const ip = parseIp(b.ip);
      const subnet = net.subnet ? parseSubnet(net.subnet, 8) : undefined;
      if (ip === undefined || (subnet && !inSubnet(ip, subnet)))
        throw inputError('ip', `ip must be a host address of ${net.subnet ?? 'IPv4'}`);
      try {
        await store.transaction(async (tx) => {
          // A VM's NIC being given this address right now holds its lock (addresses.linkNic).
          if (subnet) await tx.networks.lockAddress(net.id, ip);
          await tx.interfaces.insert({ router_id: id, network_id: net.id, ip: b.ip });
        });
      } catch (e) {
        if (isUniqueViolation(e))
          throw conflict('network', `router ${name} already has an interface on ${b.network}`);
        throw e;
      }
      const made = await store.interfaces.one(id, b.network);
      if (!made) throw noInterface(name, b.network);
      return made;
    },
    async removeInterface(p: Principal, ws: string, name: string, network: string) {
      const m = await requireServiceWriter(store, p, ws);
      const id = await routerId(m.workspaceId, name);
      if (!(await store.interfaces.remove(id, m.workspaceId, network))) throw noInterface(name, network);
      return { network, deleted: true as const };
    },
  };
}
export type NetworksService = ReturnType<typeof networksService>;
export type RoutersService = ReturnType<typeof routersService>;
