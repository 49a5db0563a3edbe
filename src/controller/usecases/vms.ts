// VM use cases: check the token's permission, then accept the task with inventory's one call (accept.ts).
import { requirePermission, type Principal } from '../../lib/auth.ts';
import type { Target, VmAccepted, VmMigrate, VmPost, VmPut } from '../../lib/contracts/controller.ts';
import type {
  VmCreateTask,
  VmDeleteTask,
  VmMigrateTask,
  VmUpdateTask,
} from '../../lib/contracts/messages.ts';
import { DEFAULT_GROUP } from '../../lib/contracts/secgroups.ts';
import { conflict, inputError, notAllowed, unavailable } from '../../lib/errors.ts';
import type { ControllerContext } from '../context.ts';
import { accept, found, requireIdle } from './accept.ts';
import { guestConfig } from './guest-config.ts';
import { requireRoom } from './resize.ts';

export async function createVm(
  ctx: ControllerContext,
  p: Principal,
  b: VmPost,
  requestId: string,
): Promise<VmAccepted> {
  requirePermission(p, b.owner, 'vm_can_add');
  const guest = await guestConfig(ctx, p, b, requestId);
  let ip = '';
  const accepted = await accept<VmCreateTask, 'vm-create'>(ctx, {
    principal: p,
    requestId,
    owner: b.owner,
    type: 'vm',
    method: 'POST',
    name: b.name,
    stage: 'C_D',
    // The workspace (in use, within its quotas), the name, the template, the area, the networks and the
    // security groups are checked, the VM's address and its NICs' addresses taken and its record written in
    // state C_D, all at once. A new VM joins the workspace's default group unless told otherwise (issue 17).
    inventory: {
      op: 'vm-create',
      body: {
        name: b.name,
        description: b.description ?? '',
        area: b.area,
        template: b.template,
        networks: b.networks ?? [],
        security_groups: b.security_groups ?? [DEFAULT_GROUP],
        ...(b.affinity_group ? { affinity_group: b.affinity_group } : {}),
      },
    },
    message: (common, a) => {
      if (!a.vm.ip) throw unavailable(`inventory gave vm ${b.name} no address`);
      ip = a.vm.ip;
      return {
        ...common,
        type: 'vm',
        method: 'POST',
        description: b.description ?? '',
        area: a.area,
        template: a.template,
        password: b.password,
        ...(b.runcmd ? { runcmd: b.runcmd } : {}),
        ...guest,
        ip,
        ...(b.affinity_group ? { affinity_group: b.affinity_group } : {}),
        // Inventory gave each NIC on a network with a subnet its address; the guest gets it in its seed.
        networks: a.networks.map((n) => ({
          ...n,
          ip: a.vm.interfaces.find((i) => i.network === n.name)?.ip ?? null,
        })),
      };
    },
  });
  return { ...accepted, ip };
}

export async function updateVm(ctx: ControllerContext, p: Principal, b: VmPut, requestId: string) {
  requirePermission(p, b.owner, 'vm_can_edit');
  const u = b.update_dict;
  if (Object.values(u).every((v) => v === undefined))
    throw inputError(
      'update_dict',
      'nothing to change: give name, description, networks, cpu, ram, security_groups or affinity_group',
    );
  await requireIdle(ctx, b.owner, 'vm', b.name);
  const resize = u.cpu !== undefined || u.ram !== undefined;
  // A resize asks compute whether the VM's host has room first (a call to compute, not to inventory).
  if (resize)
    await requireRoom(
      ctx,
      await found(ctx.inventory.vms.get(b.owner, b.name, { requestId }), 'name', `vm ${b.name}`),
      b.owner,
      u,
      requestId,
    );
  return accept<VmUpdateTask, 'vm-update'>(ctx, {
    principal: p,
    requestId,
    owner: b.owner,
    type: 'vm',
    method: 'PUT',
    name: b.name,
    stage: 'updating',
    // Inventory checks the new name, the networks and the groups; the groups and a new size (checked against
    // the workspace's quotas, so two resizes cannot both take its last vCPU) are written now, their undo
    // journaled: the network service puts the workspace's rules on the hosts from inventory during this
    // task, and a rollback puts both back (effects.ts).
    inventory: {
      op: 'vm-update',
      body: {
        name: b.name,
        ...(u.name !== undefined ? { rename: u.name } : {}),
        ...(u.networks !== undefined ? { networks: u.networks } : {}),
        ...(u.security_groups !== undefined ? { security_groups: u.security_groups } : {}),
        ...(u.cpu !== undefined ? { cpu: u.cpu } : {}),
        ...(u.ram !== undefined ? { ram: u.ram } : {}),
      },
    },
    previous: (a) => a.vm,
    message: (common, a) => ({
      ...common,
      type: 'vm',
      method: 'PUT',
      update_dict: u,
      ...(a.networks ? { networks_after: a.networks } : {}),
      host: a.vm.host,
      vm: a.vm,
    }),
  });
}

export async function deleteVm(ctx: ControllerContext, p: Principal, b: Target, requestId: string) {
  requirePermission(p, b.owner, 'vm_can_delete');
  await requireIdle(ctx, b.owner, 'vm', b.name);
  return accept<VmDeleteTask, 'vm-delete'>(ctx, {
    principal: p,
    requestId,
    owner: b.owner,
    type: 'vm',
    method: 'DELETE',
    name: b.name,
    stage: 'X',
    // The record goes to state X (its undo puts the state back).
    inventory: { op: 'vm-delete', body: { name: b.name } },
    previous: (a) => a.vm,
    message: (common, { vm }) => ({
      ...common,
      type: 'vm',
      method: 'DELETE',
      ip: vm.ip,
      area: vm.area,
      host: vm.host,
      networks: vm.networks,
      interfaces: vm.interfaces,
    }),
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
