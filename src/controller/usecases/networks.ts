// Network, router and interface use cases (the network service does the work).
import { requirePermission, type Principal } from '../../lib/auth.ts';
import type { InterfacePost, NetworkPost, NetworkPut, Target } from '../../lib/contracts/controller.ts';
import type { ControllerTask } from '../../lib/contracts/messages.ts';
import type { Variant } from '../../lib/handlers.ts';
import { conflict, inputError } from '../../lib/errors.ts';
import type { ControllerContext } from '../context.ts';
import { accept, found, requireIdle, requireWorkspace } from './accept.ts';
import { inSubnet, parseIp, parseSubnet } from '../../lib/ipv4.ts';

type Task<K extends string> = Variant<ControllerTask, K>;

export async function createNetwork(ctx: ControllerContext, p: Principal, b: NetworkPost, requestId: string) {
  const o = { requestId };
  requirePermission(p, b.owner, 'network_can_add');
  await requireWorkspace(ctx, b.owner, requestId);
  if (b.subnet !== undefined && !parseSubnet(b.subnet, 8))
    throw inputError('subnet', 'subnet must be an IPv4 network a.b.c.d/p (prefix 8-30)');
  if (await ctx.inventory.networks.get(b.owner, b.name, o))
    throw conflict('name', `network ${b.name} exists`);
  return accept<Task<'network POST'>>(ctx, {
    principal: p,
    requestId,
    owner: b.owner,
    type: 'network',
    method: 'POST',
    name: b.name,
    stage: 'C',
    message: async (common, steps) => {
      await steps.willUndo({
        op: 'delete',
        kind: 'network',
        workspace: b.owner,
        name: b.name,
        task: steps.taskId,
      });
      await ctx.inventory.networks.create(
        b.owner,
        {
          name: b.name,
          description: b.description ?? '',
          state: 'C',
          subnet: b.subnet ?? null,
          task: steps.taskId,
        },
        o,
      );
      return {
        ...common,
        type: 'network',
        method: 'POST',
        description: b.description ?? '',
        subnet: b.subnet ?? null,
      };
    },
  });
}

export async function updateNetwork(ctx: ControllerContext, p: Principal, b: NetworkPut, requestId: string) {
  const o = { requestId };
  requirePermission(p, b.owner, 'network_can_edit');
  const u = b.update_dict;
  if (u.name === undefined && u.description === undefined)
    throw inputError('update_dict', 'nothing to change: give name or description');
  const net = await found(ctx.inventory.networks.get(b.owner, b.name, o), 'name', `network ${b.name}`);
  await requireIdle(ctx, b.owner, 'network', b.name);
  if (u.name !== undefined && u.name !== b.name && (await ctx.inventory.networks.get(b.owner, u.name, o)))
    throw conflict('update_dict.name', `network ${u.name} exists`);
  return accept<Task<'network PUT'>>(ctx, {
    principal: p,
    requestId,
    owner: b.owner,
    type: 'network',
    method: 'PUT',
    name: b.name,
    stage: 'updating',
    previous: net,
    message: async (common) => ({
      ...common,
      type: 'network',
      method: 'PUT',
      update_dict: u,
      vlan: net.vlan,
    }),
  });
}

export async function deleteNetwork(ctx: ControllerContext, p: Principal, b: Target, requestId: string) {
  const o = { requestId };
  requirePermission(p, b.owner, 'network_can_delete');
  const net = await found(ctx.inventory.networks.get(b.owner, b.name, o), 'name', `network ${b.name}`);
  await requireIdle(ctx, b.owner, 'network', b.name);
  const users = (await ctx.inventory.vms.list(b.owner, o))
    .filter((v) => v.networks.includes(b.name))
    .map((v) => v.name);
  if (users.length) throw conflict('name', `network ${b.name} is used by VMs ${users.join(', ')}`);
  for (const r of await ctx.inventory.routers.list(b.owner, o)) {
    if (await ctx.inventory.interfaces.get(b.owner, r.name, b.name, o))
      throw conflict('name', `network ${b.name} has an interface of router ${r.name}`);
  }
  return accept<Task<'network DELETE'>>(ctx, {
    principal: p,
    requestId,
    owner: b.owner,
    type: 'network',
    method: 'DELETE',
    name: b.name,
    stage: 'X',
    previous: net,
    message: async (common, steps) => {
      await steps.willUndo({
        op: 'restore_state',
        kind: 'network',
        workspace: b.owner,
        name: b.name,
        state: net.state,
      });
      await ctx.inventory.networks.update(b.owner, b.name, { state: 'X' }, o);
      return { ...common, type: 'network', method: 'DELETE', vlan: net.vlan };
    },
  });
}

export async function createRouter(ctx: ControllerContext, p: Principal, b: Target, requestId: string) {
  const o = { requestId };
  requirePermission(p, b.owner, 'router_can_add');
  await requireWorkspace(ctx, b.owner, requestId);
  if (await ctx.inventory.routers.get(b.owner, b.name, o)) throw conflict('name', `router ${b.name} exists`);
  return accept<Task<'router POST'>>(ctx, {
    principal: p,
    requestId,
    owner: b.owner,
    type: 'router',
    method: 'POST',
    name: b.name,
    stage: 'C',
    message: async (common, steps) => {
      await steps.willUndo({
        op: 'delete',
        kind: 'router',
        workspace: b.owner,
        name: b.name,
        task: steps.taskId,
      });
      await ctx.inventory.routers.create(b.owner, { name: b.name, state: 'C', task: steps.taskId }, o);
      return { ...common, type: 'router', method: 'POST' };
    },
  });
}

export async function deleteRouter(ctx: ControllerContext, p: Principal, b: Target, requestId: string) {
  const o = { requestId };
  requirePermission(p, b.owner, 'router_can_delete');
  const router = await found(ctx.inventory.routers.get(b.owner, b.name, o), 'name', `router ${b.name}`);
  await requireIdle(ctx, b.owner, 'router', b.name);
  const interfaces = (await ctx.inventory.interfaces.list(b.owner, b.name, o)) ?? [];
  return accept<Task<'router DELETE'>>(ctx, {
    principal: p,
    requestId,
    owner: b.owner,
    type: 'router',
    method: 'DELETE',
    name: b.name,
    stage: 'X',
    previous: router,
    message: async (common, steps) => {
      await steps.willUndo({
        op: 'restore_state',
        kind: 'router',
        workspace: b.owner,
        name: b.name,
        state: router.state,
      });
      await ctx.inventory.routers.update(b.owner, b.name, { state: 'X' }, o);
      return { ...common, type: 'router', method: 'DELETE', host: router.host, interfaces };
    },
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
  const o = { requestId };
  requirePermission(p, b.owner, 'router_can_edit');
  const router = await found(ctx.inventory.routers.get(b.owner, b.router, o), 'router', `router ${b.router}`);
  const net = await ctx.inventory.networks.get(b.owner, b.network, o);
  if (!net) throw inputError('network', `no network ${b.network} in workspace ${b.owner}`);
  const existing = await ctx.inventory.interfaces.get(b.owner, b.router, b.network, o);
  let ip: string;
  if (method === 'POST') {
    if (!b.ip) throw inputError('ip', 'ip is required');
    const a = parseIp(b.ip);
    const subnet = net.subnet ? parseSubnet(net.subnet, 8) : undefined;
    if (a === undefined || (subnet && !inSubnet(a, subnet)))
      throw inputError('ip', `ip must be a host address of ${net.subnet ?? 'IPv4'}`);
    if (existing) throw conflict('network', `router ${b.router} already has an interface on ${b.network}`);
    ip = b.ip;
  } else if (!existing) throw inputError('network', `router ${b.router} has no interface on ${b.network}`);
  else ip = b.ip ?? existing.ip;
  const name = `${b.router}.${b.network}`;
  await requireIdle(ctx, b.owner, 'interface', name);
  const fields = {
    router: b.router,
    network: b.network,
    ip,
    vlan: net.vlan,
    subnet: net.subnet,
    host: router.host,
  };
  const common = { principal: p, requestId, owner: b.owner, type: 'interface' as const, name };
  return method === 'POST'
    ? accept<Task<'interface POST'>>(ctx, {
        ...common,
        method,
        stage: 'C',
        message: async (c) => ({ ...c, type: 'interface', method, ...fields }),
      })
    : accept<Task<'interface DELETE'>>(ctx, {
        ...common,
        method,
        stage: 'X',
        message: async (c) => ({ ...c, type: 'interface', method, ...fields }),
      });
}
