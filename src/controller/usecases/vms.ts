// VM use cases: check access, then validate against inventory, then accept the task.
import { requirePermission, type Principal } from '../../lib/auth.ts';
import { AppError, conflict, inputError } from '../../lib/errors.ts';
import type { ControllerContext } from '../context.ts';
import { accept, requireIdle, requireObject, requireWorkspace } from './accept.ts';

export interface VmCreate {
  owner: string;
  name: string;
  description?: string;
  area: string;
  template: string;
  networks?: string[];
  password: string;
  /** Shell lines the guest runs at first boot (cloud-init runcmd). */
  runcmd?: string[];
}

async function requireNetworks(ctx: ControllerContext, owner: string, names: string[], requestId: string) {
  const nets = [];
  for (const n of names) {
    const net = await ctx.inventory.get(`/${owner}/networks/${n}/`, requestId);
    if (!net) throw inputError('networks', `no network ${n} in workspace ${owner}`);
    nets.push({ name: net.name, vlan: net.vlan, subnet: net.subnet });
  }
  return nets;
}

export async function createVm(ctx: ControllerContext, p: Principal, b: VmCreate, requestId: string) {
  requirePermission(p, b.owner, 'vm_can_add');
  await requireWorkspace(ctx, b.owner, requestId);
  if (await ctx.inventory.get(`/${b.owner}/vms/${b.name}/`, requestId))
    throw conflict('name', `vm ${b.name} exists`);
  const template = await ctx.inventory.get(`/templates/${b.template}/`, requestId);
  if (!template) throw inputError('template', `no template ${b.template}`);
  const area = await ctx.inventory.get(`/areas/${b.area}/`, requestId);
  if (!area) throw inputError('area', `no area ${b.area}`);
  const networks = await requireNetworks(ctx, b.owner, b.networks ?? [], requestId);

  let ip = '';
  const accepted = await accept(ctx, {
    principal: p,
    requestId,
    owner: b.owner,
    type: 'vm',
    method: 'POST',
    name: b.name,
    stage: 'C_D',
    payload: {
      description: b.description ?? '',
      area: { name: area.name, subnet: area.subnet, gateway: area.gateway },
      template,
      password: b.password,
      runcmd: b.runcmd,
    },
    prepare: async (steps) => {
      await steps.willUndo({ method: 'DELETE', path: `/address/${b.area}/task/${steps.taskId}/` });
      ({ ip } = (await ctx.inventory
        .get<{ ip: string }>(`/address/${b.area}/get_ip/?task=${steps.taskId}`, requestId)
        .catch((e) => {
          if (e instanceof AppError && e.kind === 'conflict') throw conflict('area', e.message);
          throw e;
        })) as { ip: string });
      await steps.willUndo({ method: 'DELETE', path: `/${b.owner}/vms/${b.name}/?task=${steps.taskId}` });
      const record = {
        name: b.name,
        description: b.description ?? '',
        ip,
        state: 'C_D',
        area: b.area,
        template: b.template,
        networks: b.networks ?? [],
        task: steps.taskId,
      };
      const created = await ctx.inventory.post<{ interfaces: { network: string; ip: string | null }[] }>(
        `/${b.owner}/vms/`,
        record,
        requestId,
      );
      // Inventory gave each NIC on a network with a subnet its address; the guest gets it in its seed.
      return {
        ip,
        networks: networks.map((n) => ({
          ...n,
          ip: created.interfaces.find((i) => i.network === n.name)?.ip ?? null,
        })),
      };
    },
  });
  return { ...accepted, ip };
}

export interface VmUpdate {
  owner: string;
  name: string;
  update_dict: { name?: string; description?: string; networks?: string[] };
}

export async function updateVm(ctx: ControllerContext, p: Principal, b: VmUpdate, requestId: string) {
  requirePermission(p, b.owner, 'vm_can_edit');
  const u = b.update_dict;
  if (u.name === undefined && u.description === undefined && u.networks === undefined)
    throw inputError('update_dict', 'nothing to change: give name, description or networks');
  const vm = await requireObject<any>(ctx, `/${b.owner}/vms/${b.name}/`, requestId, 'name', `vm ${b.name}`);
  await requireIdle(ctx, b.owner, 'vm', b.name);
  if (
    u.name !== undefined &&
    u.name !== b.name &&
    (await ctx.inventory.get(`/${b.owner}/vms/${u.name}/`, requestId))
  )
    throw conflict('update_dict.name', `vm ${u.name} exists`);
  const networks =
    u.networks === undefined ? undefined : await requireNetworks(ctx, b.owner, u.networks, requestId);
  return accept(ctx, {
    principal: p,
    requestId,
    owner: b.owner,
    type: 'vm',
    method: 'PUT',
    name: b.name,
    stage: 'updating',
    payload: { update_dict: u, networks_after: networks, host: vm.host, vm },
    previous: vm,
  });
}

export async function deleteVm(
  ctx: ControllerContext,
  p: Principal,
  b: { owner: string; name: string },
  requestId: string,
) {
  requirePermission(p, b.owner, 'vm_can_delete');
  const vm = await requireObject<any>(ctx, `/${b.owner}/vms/${b.name}/`, requestId, 'name', `vm ${b.name}`);
  await requireIdle(ctx, b.owner, 'vm', b.name);
  return accept(ctx, {
    principal: p,
    requestId,
    owner: b.owner,
    type: 'vm',
    method: 'DELETE',
    name: b.name,
    stage: 'X',
    payload: { ip: vm.ip, area: vm.area, host: vm.host, networks: vm.networks, interfaces: vm.interfaces },
    previous: vm,
    prepare: async (steps) => {
      await steps.willUndo({ method: 'PUT', path: `/${b.owner}/vms/${b.name}/`, body: { state: vm.state } });
      await ctx.inventory.put(`/${b.owner}/vms/${b.name}/`, { state: 'X' }, requestId);
    },
  });
}
