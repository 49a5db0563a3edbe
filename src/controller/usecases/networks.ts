// Network, router and interface use cases (the network service does the work).
import { requirePermission, type Principal } from '../../lib/auth.ts';
import { conflict, inputError } from '../../lib/errors.ts';
import type { ControllerContext } from '../context.ts';
import { accept, requireIdle, requireObject, requireWorkspace } from './accept.ts';
import { inSubnet, parseIp, parseSubnet } from '../../lib/ipv4.ts';

export async function createNetwork(
  ctx: ControllerContext,
  p: Principal,
  b: { owner: string; name: string; description?: string; subnet?: string },
  requestId: string,
) {
  requirePermission(p, b.owner, 'network_can_add');
  await requireWorkspace(ctx, b.owner, requestId);
  if (b.subnet !== undefined && !parseSubnet(b.subnet, 8))
    throw inputError('subnet', 'subnet must be an IPv4 network a.b.c.d/p (prefix 8-30)');
  if (await ctx.inventory.get(`/${b.owner}/networks/${b.name}/`, requestId))
    throw conflict('name', `network ${b.name} exists`);
  return accept(ctx, {
    principal: p,
    requestId,
    owner: b.owner,
    type: 'network',
    method: 'POST',
    name: b.name,
    stage: 'C',
    payload: { description: b.description ?? '', subnet: b.subnet ?? null },
    prepare: async (steps) => {
      await steps.willUndo({
        method: 'DELETE',
        path: `/${b.owner}/networks/${b.name}/?task=${steps.taskId}`,
      });
      await ctx.inventory.post(
        `/${b.owner}/networks/`,
        {
          name: b.name,
          description: b.description ?? '',
          state: 'C',
          subnet: b.subnet ?? null,
          task: steps.taskId,
        },
        requestId,
      );
    },
  });
}

export async function updateNetwork(
  ctx: ControllerContext,
  p: Principal,
  b: { owner: string; name: string; update_dict: { name?: string; description?: string } },
  requestId: string,
) {
  requirePermission(p, b.owner, 'network_can_edit');
  const u = b.update_dict;
  if (u.name === undefined && u.description === undefined)
    throw inputError('update_dict', 'nothing to change: give name or description');
  const net = await requireObject<any>(
    ctx,
    `/${b.owner}/networks/${b.name}/`,
    requestId,
    'name',
    `network ${b.name}`,
  );
  await requireIdle(ctx, b.owner, 'network', b.name);
  if (
    u.name !== undefined &&
    u.name !== b.name &&
    (await ctx.inventory.get(`/${b.owner}/networks/${u.name}/`, requestId))
  )
    throw conflict('update_dict.name', `network ${u.name} exists`);
  return accept(ctx, {
    principal: p,
    requestId,
    owner: b.owner,
    type: 'network',
    method: 'PUT',
    name: b.name,
    stage: 'updating',
    payload: { update_dict: u, vlan: net.vlan },
    previous: net,
  });
}

export async function deleteNetwork(
  ctx: ControllerContext,
  p: Principal,
  b: { owner: string; name: string },
  requestId: string,
) {
  requirePermission(p, b.owner, 'network_can_delete');
  const net = await requireObject<any>(
    ctx,
    `/${b.owner}/networks/${b.name}/`,
    requestId,
    'name',
    `network ${b.name}`,
  );
  await requireIdle(ctx, b.owner, 'network', b.name);
  const { vms } = (await ctx.inventory.get<{ vms: { name: string; networks: string[] }[] }>(
    `/${b.owner}/vms/`,
    requestId,
  )) ?? { vms: [] };
  const users = vms.filter((v) => v.networks.includes(b.name)).map((v) => v.name);
  if (users.length) throw conflict('name', `network ${b.name} is used by VMs ${users.join(', ')}`);
  const { routers } = (await ctx.inventory.get<{ routers: { name: string }[] }>(
    `/${b.owner}/routers/`,
    requestId,
  )) ?? { routers: [] };
  for (const r of routers) {
    if (await ctx.inventory.get(`/${b.owner}/routers/${r.name}/interfaces/${b.name}/`, requestId))
      throw conflict('name', `network ${b.name} has an interface of router ${r.name}`);
  }
  return accept(ctx, {
    principal: p,
    requestId,
    owner: b.owner,
    type: 'network',
    method: 'DELETE',
    name: b.name,
    stage: 'X',
    payload: { vlan: net.vlan },
    previous: net,
    prepare: async (steps) => {
      await steps.willUndo({
        method: 'PUT',
        path: `/${b.owner}/networks/${b.name}/`,
        body: { state: net.state },
      });
      await ctx.inventory.put(`/${b.owner}/networks/${b.name}/`, { state: 'X' }, requestId);
    },
  });
}

export async function createRouter(
  ctx: ControllerContext,
  p: Principal,
  b: { owner: string; name: string },
  requestId: string,
) {
  requirePermission(p, b.owner, 'router_can_add');
  await requireWorkspace(ctx, b.owner, requestId);
  if (await ctx.inventory.get(`/${b.owner}/routers/${b.name}/`, requestId))
    throw conflict('name', `router ${b.name} exists`);
  return accept(ctx, {
    principal: p,
    requestId,
    owner: b.owner,
    type: 'router',
    method: 'POST',
    name: b.name,
    stage: 'C',
    payload: {},
    prepare: async (steps) => {
      await steps.willUndo({ method: 'DELETE', path: `/${b.owner}/routers/${b.name}/?task=${steps.taskId}` });
      await ctx.inventory.post(
        `/${b.owner}/routers/`,
        { name: b.name, state: 'C', task: steps.taskId },
        requestId,
      );
    },
  });
}

export async function deleteRouter(
  ctx: ControllerContext,
  p: Principal,
  b: { owner: string; name: string },
  requestId: string,
) {
  requirePermission(p, b.owner, 'router_can_delete');
  const router = await requireObject<any>(
    ctx,
    `/${b.owner}/routers/${b.name}/`,
    requestId,
    'name',
    `router ${b.name}`,
  );
  await requireIdle(ctx, b.owner, 'router', b.name);
  const { interfaces } = (await ctx.inventory.get(
    `/${b.owner}/routers/${b.name}/interfaces/`,
    requestId,
  )) ?? { interfaces: [] };
  return accept(ctx, {
    principal: p,
    requestId,
    owner: b.owner,
    type: 'router',
    method: 'DELETE',
    name: b.name,
    stage: 'X',
    payload: { host: router.host, interfaces },
    previous: router,
    prepare: async (steps) => {
      await steps.willUndo({
        method: 'PUT',
        path: `/${b.owner}/routers/${b.name}/`,
        body: { state: router.state },
      });
      await ctx.inventory.put(`/${b.owner}/routers/${b.name}/`, { state: 'X' }, requestId);
    },
  });
}

export interface InterfaceRequest {
  owner: string;
  router: string;
  network: string;
  ip?: string;
}

export async function changeInterface(
  ctx: ControllerContext,
  p: Principal,
  b: InterfaceRequest,
  method: 'POST' | 'DELETE',
  requestId: string,
) {
  requirePermission(p, b.owner, 'router_can_edit');
  const router = await requireObject<any>(
    ctx,
    `/${b.owner}/routers/${b.router}/`,
    requestId,
    'router',
    `router ${b.router}`,
  );
  const net = await ctx.inventory.get(`/${b.owner}/networks/${b.network}/`, requestId);
  if (!net) throw inputError('network', `no network ${b.network} in workspace ${b.owner}`);
  const existing = await ctx.inventory.get(
    `/${b.owner}/routers/${b.router}/interfaces/${b.network}/`,
    requestId,
  );
  if (method === 'POST') {
    if (!b.ip) throw inputError('ip', 'ip is required');
    const ip = parseIp(b.ip);
    const subnet = net.subnet ? parseSubnet(net.subnet, 8) : undefined;
    if (ip === undefined || (subnet && !inSubnet(ip, subnet)))
      throw inputError('ip', `ip must be a host address of ${net.subnet ?? 'IPv4'}`);
    if (existing) throw conflict('network', `router ${b.router} already has an interface on ${b.network}`);
  } else if (!existing) throw inputError('network', `router ${b.router} has no interface on ${b.network}`);
  const name = `${b.router}.${b.network}`;
  await requireIdle(ctx, b.owner, 'interface', name);
  return accept(ctx, {
    principal: p,
    requestId,
    owner: b.owner,
    type: 'interface',
    method,
    name,
    stage: method === 'POST' ? 'C' : 'X',
    payload: {
      router: b.router,
      network: b.network,
      ip: b.ip ?? existing?.ip,
      vlan: net.vlan,
      subnet: net.subnet,
      host: router.host,
    },
  });
}
