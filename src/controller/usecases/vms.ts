// VM use cases: check access, then validate against inventory, then accept the task.
import { requirePermission, type Principal } from '../../lib/auth.ts';
import type { Target, VmAccepted, VmMigrate, VmPost, VmPut } from '../../lib/contracts/controller.ts';
import type {
  VmCreateTask,
  VmDeleteTask,
  VmMigrateTask,
  VmUpdateTask,
} from '../../lib/contracts/messages.ts';
import { DEFAULT_GROUP } from '../../lib/contracts/secgroups.ts';
import { AppError, conflict, inputError, notAllowed } from '../../lib/errors.ts';
import type { ControllerContext } from '../context.ts';
import { accept, found, requireIdle, requireWorkspace } from './accept.ts';
import { requireRoom } from './resize.ts';
import { guestConfig } from './guest-config.ts';

async function requireNetworks(ctx: ControllerContext, owner: string, names: string[], requestId: string) {
  const nets = [];
  for (const n of names) {
    const net = await ctx.inventory.networks.get(owner, n, { requestId });
    if (!net) throw inputError('networks', `no network ${n} in workspace ${owner}`);
    // Compute plugs a private NIC with its VLAN in the domain XML: a network still being made has none yet.
    if (!Number.isInteger(net.vlan))
      throw conflict('networks', `network ${n} has no VLAN yet (state ${net.state})`);
    nets.push({ name: net.name, vlan: net.vlan, subnet: net.subnet });
  }
  return nets;
}

/** Every name is a security group of the workspace; an unknown one is a 400 naming the field. */
async function requireGroups(
  ctx: ControllerContext,
  owner: string,
  names: string[],
  field: string,
  requestId: string,
) {
  const have = new Set((await ctx.inventory.securityGroups.list(owner, { requestId })).map((g) => g.name));
  const missing = names.find((n) => !have.has(n));
  if (missing) throw inputError(field, `no security group ${missing} in workspace ${owner}`);
  return names;
}

export async function createVm(
  ctx: ControllerContext,
  p: Principal,
  b: VmPost,
  requestId: string,
): Promise<VmAccepted> {
  const o = { requestId };
  requirePermission(p, b.owner, 'vm_can_add');
  const guest = await guestConfig(ctx, p, b, requestId);
  await requireWorkspace(ctx, b.owner, requestId);
  if (await ctx.inventory.vms.get(b.owner, b.name, o)) throw conflict('name', `vm ${b.name} exists`);
  const template = await ctx.inventory.templates.get(b.template, o);
  if (!template) throw inputError('template', `no template ${b.template}`);
  const area = await ctx.inventory.areas.get(b.area, o);
  if (!area) throw inputError('area', `no area ${b.area}`);
  const networks = await requireNetworks(ctx, b.owner, b.networks ?? [], requestId);
  // A new VM joins the workspace's default group unless told otherwise (issue 17).
  const groups = await requireGroups(
    ctx,
    b.owner,
    b.security_groups ?? [DEFAULT_GROUP],
    'security_groups',
    requestId,
  );

  let ip = '';
  const accepted = await accept<VmCreateTask>(ctx, {
    principal: p,
    requestId,
    owner: b.owner,
    type: 'vm',
    method: 'POST',
    name: b.name,
    stage: 'C_D',
    message: async (common, steps) => {
      await steps.willUndo({ op: 'release_addresses', area: b.area, task: steps.taskId });
      ip = await ctx.inventory.addresses.take(b.area, steps.taskId, o).catch((e: unknown) => {
        if (e instanceof AppError && e.kind === 'conflict') throw conflict('area', e.message);
        throw e;
      });
      await steps.willUndo({
        op: 'delete',
        kind: 'vm',
        workspace: b.owner,
        name: b.name,
        task: steps.taskId,
      });
      const created = await ctx.inventory.vms.create(
        b.owner,
        {
          name: b.name,
          description: b.description ?? '',
          ip,
          state: 'C_D',
          area: b.area,
          template: b.template,
          networks: b.networks ?? [],
          task: steps.taskId,
          security_groups: groups,
          ...(b.affinity_group ? { affinity_group: b.affinity_group } : {}),
        },
        o,
      );
      return {
        ...common,
        type: 'vm',
        method: 'POST',
        description: b.description ?? '',
        area: { name: area.name, subnet: area.subnet, gateway: area.gateway },
        template,
        password: b.password,
        ...(b.runcmd ? { runcmd: b.runcmd } : {}),
        ...guest,
        ip,
        ...(b.affinity_group ? { affinity_group: b.affinity_group } : {}),
        // Inventory gave each NIC on a network with a subnet its address; the guest gets it in its seed.
        networks: networks.map((n) => ({
          ...n,
          ip: created.interfaces.find((i) => i.network === n.name)?.ip ?? null,
        })),
      };
    },
  });
  return { ...accepted, ip };
}

export async function updateVm(ctx: ControllerContext, p: Principal, b: VmPut, requestId: string) {
  const o = { requestId };
  requirePermission(p, b.owner, 'vm_can_edit');
  const u = b.update_dict;
  if (Object.values(u).every((v) => v === undefined))
    throw inputError(
      'update_dict',
      'nothing to change: give name, description, networks, cpu, ram, security_groups or affinity_group',
    );
  const vm = await found(ctx.inventory.vms.get(b.owner, b.name, o), 'name', `vm ${b.name}`);
  await requireIdle(ctx, b.owner, 'vm', b.name);
  if (u.cpu !== undefined || u.ram !== undefined) await requireRoom(ctx, vm, b.owner, u, requestId);
  if (u.name !== undefined && u.name !== b.name && (await ctx.inventory.vms.get(b.owner, u.name, o)))
    throw conflict('update_dict.name', `vm ${u.name} exists`);
  const networks =
    u.networks === undefined ? undefined : await requireNetworks(ctx, b.owner, u.networks, requestId);
  if (u.security_groups)
    await requireGroups(ctx, b.owner, u.security_groups, 'update_dict.security_groups', requestId);
  return accept<VmUpdateTask>(ctx, {
    principal: p,
    requestId,
    owner: b.owner,
    type: 'vm',
    method: 'PUT',
    name: b.name,
    stage: 'updating',
    previous: vm,
    message: async (common, steps) => {
      // The groups are written now: the network service puts the workspace's rules on the hosts from
      // inventory, during this task.
      if (u.security_groups) {
        await steps.willUndo({
          op: 'restore_groups',
          workspace: b.owner,
          name: b.name,
          groups: vm.security_groups,
        });
        await ctx.inventory.vms.update(b.owner, b.name, { security_groups: u.security_groups }, o);
      }
      return {
        ...common,
        type: 'vm',
        method: 'PUT',
        update_dict: u,
        ...(networks ? { networks_after: networks } : {}),
        host: vm.host,
        vm,
      };
    },
  });
}

export async function deleteVm(ctx: ControllerContext, p: Principal, b: Target, requestId: string) {
  const o = { requestId };
  requirePermission(p, b.owner, 'vm_can_delete');
  const vm = await found(ctx.inventory.vms.get(b.owner, b.name, o), 'name', `vm ${b.name}`);
  await requireIdle(ctx, b.owner, 'vm', b.name);
  return accept<VmDeleteTask>(ctx, {
    principal: p,
    requestId,
    owner: b.owner,
    type: 'vm',
    method: 'DELETE',
    name: b.name,
    stage: 'X',
    previous: vm,
    message: async (common, steps) => {
      await steps.willUndo({
        op: 'restore_state',
        kind: 'vm',
        workspace: b.owner,
        name: b.name,
        state: vm.state,
      });
      await ctx.inventory.vms.update(b.owner, b.name, { state: 'X' }, o);
      return {
        ...common,
        type: 'vm',
        method: 'DELETE',
        ip: vm.ip,
        area: vm.area,
        host: vm.host,
        networks: vm.networks,
        interfaces: vm.interfaces,
      };
    },
  });
}

/** A live migration (admins only: it moves a tenant's VM between the operator's hosts). */
export async function migrateVm(ctx: ControllerContext, p: Principal, b: VmMigrate, requestId: string) {
  const o = { requestId };
  if (!p.isAdmin) throw notAllowed('only admins migrate VMs');
  const vm = await found(ctx.inventory.vms.get(b.owner, b.name, o), 'name', `vm ${b.name}`);
  if (vm.state !== 'U')
    throw conflict('name', `vm ${b.name} is in state ${vm.state}: only an up VM migrates`);
  if (b.host !== undefined) {
    const host = await ctx.inventory.hosts.get(b.host, o);
    if (!host) throw inputError('host', `no host ${b.host}`);
    if (host.area !== vm.area) throw inputError('host', `host ${b.host} is not in area ${vm.area}`);
    if (host.name === vm.host) throw inputError('host', `vm ${b.name} already runs on ${b.host}`);
  }
  await requireIdle(ctx, b.owner, 'vm', b.name);
  return accept<VmMigrateTask>(ctx, {
    principal: p,
    requestId,
    owner: b.owner,
    type: 'vm',
    method: 'MIGRATE',
    name: b.name,
    stage: 'migrating',
    previous: vm,
    message: async (common) => ({
      ...common,
      type: 'vm',
      method: 'MIGRATE',
      to: b.host ?? null,
      from: vm.host,
      area: vm.area,
    }),
  });
}
