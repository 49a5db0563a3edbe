// Network, router and interface use cases (the network service does the work): check the token's permission,
// then accept the task with inventory's one call (accept.ts).
import { requirePermission, type Principal } from '../../lib/auth.ts';
import type { InterfacePost, NetworkPost, NetworkPut, Target } from '../../lib/contracts/controller.ts';
import type { ControllerTask } from '../../lib/contracts/messages.ts';
import type { Variant } from '../../lib/handlers.ts';
import { inputError } from '../../lib/errors.ts';
import type { ControllerContext } from '../context.ts';
import { accept, requireIdle } from './accept.ts';
import { parseSubnet } from '../../lib/ipv4.ts';

type Task<K extends string> = Variant<ControllerTask, K>;

export async function createNetwork(ctx: ControllerContext, p: Principal, b: NetworkPost, requestId: string) {
  requirePermission(p, b.owner, 'network_can_add');
  if (b.subnet !== undefined && !parseSubnet(b.subnet, 8))
    throw inputError('subnet', 'subnet must be an IPv4 network a.b.c.d/p (prefix 8-30)');
  return accept<Task<'network POST'>, 'network-create'>(ctx, {
    principal: p,
    requestId,
    owner: b.owner,
    type: 'network',
    method: 'POST',
    name: b.name,
    stage: 'C',
    inventory: {
      op: 'network-create',
      body: { name: b.name, description: b.description ?? '', subnet: b.subnet ?? null },
    },
    message: (common) => ({
      ...common,
      type: 'network',
      method: 'POST',
      description: b.description ?? '',
      subnet: b.subnet ?? null,
    }),
  });
}

export async function updateNetwork(ctx: ControllerContext, p: Principal, b: NetworkPut, requestId: string) {
  requirePermission(p, b.owner, 'network_can_edit');
  const u = b.update_dict;
  if (u.name === undefined && u.description === undefined)
    throw inputError('update_dict', 'nothing to change: give name or description');
  await requireIdle(ctx, b.owner, 'network', b.name);
  return accept<Task<'network PUT'>, 'network-update'>(ctx, {
    principal: p,
    requestId,
    owner: b.owner,
    type: 'network',
    method: 'PUT',
    name: b.name,
    stage: 'updating',
    inventory: {
      op: 'network-update',
      body: { name: b.name, ...(u.name !== undefined ? { rename: u.name } : {}) },
    },
    previous: (a) => a.network,
    message: (common, a) => ({
      ...common,
      type: 'network',
      method: 'PUT',
      update_dict: u,
      vlan: a.network.vlan,
    }),
  });
}

export async function deleteNetwork(ctx: ControllerContext, p: Principal, b: Target, requestId: string) {
  requirePermission(p, b.owner, 'network_can_delete');
  await requireIdle(ctx, b.owner, 'network', b.name);
  return accept<Task<'network DELETE'>, 'network-delete'>(ctx, {
    principal: p,
    requestId,
    owner: b.owner,
    type: 'network',
    method: 'DELETE',
    name: b.name,
    stage: 'X',
    // Refused while a VM or a router interface uses it; else to state X.
    inventory: { op: 'network-delete', body: { name: b.name } },
    previous: (a) => a.network,
    message: (common, a) => ({ ...common, type: 'network', method: 'DELETE', vlan: a.network.vlan }),
  });
}

export async function createRouter(ctx: ControllerContext, p: Principal, b: Target, requestId: string) {
  requirePermission(p, b.owner, 'router_can_add');
  return accept<Task<'router POST'>, 'router-create'>(ctx, {
    principal: p,
    requestId,
    owner: b.owner,
    type: 'router',
    method: 'POST',
    name: b.name,
    stage: 'C',
    inventory: { op: 'router-create', body: { name: b.name } },
    message: (common) => ({ ...common, type: 'router', method: 'POST' }),
  });
}

export async function deleteRouter(ctx: ControllerContext, p: Principal, b: Target, requestId: string) {
  requirePermission(p, b.owner, 'router_can_delete');
  await requireIdle(ctx, b.owner, 'router', b.name);
  return accept<Task<'router DELETE'>, 'router-delete'>(ctx, {
    principal: p,
    requestId,
    owner: b.owner,
    type: 'router',
    method: 'DELETE',
    name: b.name,
    stage: 'X',
    inventory: { op: 'router-delete', body: { name: b.name } },
    previous: (a) => a.router,
    message: (common, a) => ({
      ...common,
      type: 'router',
      method: 'DELETE',
      host: a.router.host,
      interfaces: a.interfaces,
    }),
  });
}

export type InterfaceRequest = Omit<InterfacePost, 'ip'> & { ip?: string };

export async function changeInterface(
  ctx: ControllerContext,
  p: Principal,
  b: InterfaceRequest,
  method: 'POST' | 'DELETE',
  requestId: string,
) {
  requirePermission(p, b.owner, 'router_can_edit');
  if (method === 'POST' && !b.ip) throw inputError('ip', 'ip is required');
  const name = `${b.router}.${b.network}`;
  await requireIdle(ctx, b.owner, 'interface', name);
  const common = { principal: p, requestId, owner: b.owner, type: 'interface' as const, name };
  // The interface itself is written when the network service has made it (results).
  const fields = (
    a: { router: { host: string | null }; network: { vlan: number | null; subnet: string | null } },
    ip: string,
  ) => ({
    router: b.router,
    network: b.network,
    ip,
    vlan: a.network.vlan,
    subnet: a.network.subnet,
    host: a.router.host,
  });
  return method === 'POST'
    ? accept<Task<'interface POST'>, 'interface-create'>(ctx, {
        ...common,
        method,
        stage: 'C',
        inventory: {
          op: 'interface-create',
          body: { router: b.router, network: b.network, ip: b.ip ?? '' },
        },
        message: (c, a) => ({ ...c, type: 'interface', method, ...fields(a, b.ip ?? '') }),
      })
    : accept<Task<'interface DELETE'>, 'interface-delete'>(ctx, {
        ...common,
        method,
        stage: 'X',
        inventory: { op: 'interface-delete', body: { router: b.router, network: b.network } },
        message: (c, a) => ({ ...c, type: 'interface', method, ...fields(a, b.ip ?? a.interface.ip) }),
      });
}
