// Security group use cases (issue 17): check access, validate the rules against the workspace's groups, write
// inventory (each write after its undo), and send the network service the task that puts the rules on the
// hosts. Groups are network configuration: they take the network_can_* permissions.
import { requirePermission, type Principal } from '../../lib/auth.ts';
import type { SecurityGroupPost, SecurityGroupPut, Target } from '../../lib/contracts/controller.ts';
import type { ControllerTask } from '../../lib/contracts/messages.ts';
import { checkRules } from '../../lib/contracts/secgroups.ts';
import type { Variant } from '../../lib/handlers.ts';
import { conflict, inputError } from '../../lib/errors.ts';
import type { ControllerContext } from '../context.ts';
import { accept, found, requireIdle, requireWorkspace } from './accept.ts';

type Task<K extends string> = Variant<ControllerTask, K>;

async function groupNames(ctx: ControllerContext, owner: string, requestId: string) {
  return new Set((await ctx.inventory.securityGroups.list(owner, { requestId })).map((g) => g.name));
}

export async function createSecurityGroup(
  ctx: ControllerContext,
  p: Principal,
  b: SecurityGroupPost,
  requestId: string,
) {
  const o = { requestId };
  requirePermission(p, b.owner, 'network_can_add');
  await requireWorkspace(ctx, b.owner, requestId);
  const names = await groupNames(ctx, b.owner, requestId);
  if (names.has(b.name)) throw conflict('name', `security group ${b.name} exists`);
  checkRules(b.rules, new Set([...names, b.name]));
  await requireIdle(ctx, b.owner, 'security_group', b.name);
  return accept<Task<'security_group POST'>>(ctx, {
    principal: p,
    requestId,
    owner: b.owner,
    type: 'security_group',
    method: 'POST',
    name: b.name,
    stage: 'C',
    message: async (common, steps) => {
      await steps.willUndo({
        op: 'delete',
        kind: 'security_group',
        workspace: b.owner,
        name: b.name,
        task: steps.taskId,
      });
      await ctx.inventory.securityGroups.create(
        b.owner,
        { name: b.name, description: b.description ?? '', rules: b.rules, task: steps.taskId },
        o,
      );
      return { ...common, type: 'security_group', method: 'POST' };
    },
  });
}

export async function updateSecurityGroup(
  ctx: ControllerContext,
  p: Principal,
  b: SecurityGroupPut,
  requestId: string,
) {
  const o = { requestId };
  requirePermission(p, b.owner, 'network_can_edit');
  const u = b.update_dict;
  if (u.rules === undefined && u.description === undefined)
    throw inputError('update_dict', 'nothing to change: give rules or description');
  const group = await found(
    ctx.inventory.securityGroups.get(b.owner, b.name, o),
    'name',
    `security group ${b.name}`,
  );
  if (u.rules) checkRules(u.rules, await groupNames(ctx, b.owner, requestId), 'update_dict.rules');
  await requireIdle(ctx, b.owner, 'security_group', b.name);
  return accept<Task<'security_group PUT'>>(ctx, {
    principal: p,
    requestId,
    owner: b.owner,
    type: 'security_group',
    method: 'PUT',
    name: b.name,
    stage: 'updating',
    message: async (common, steps) => {
      // Written now, so every task that puts a workspace's rules on hosts from now on puts these.
      await steps.willUndo({
        op: 'restore_rules',
        workspace: b.owner,
        name: b.name,
        rules: group.rules,
        description: group.description,
      });
      await ctx.inventory.securityGroups.update(b.owner, b.name, u, o);
      return {
        ...common,
        type: 'security_group',
        method: 'PUT',
        rules: u.rules ?? group.rules,
        previous_rules: group.rules,
      };
    },
  });
}

export async function deleteSecurityGroup(
  ctx: ControllerContext,
  p: Principal,
  b: Target,
  requestId: string,
) {
  const o = { requestId };
  requirePermission(p, b.owner, 'network_can_delete');
  await found(ctx.inventory.securityGroups.get(b.owner, b.name, o), 'name', `security group ${b.name}`);
  const users = (await ctx.inventory.vms.list(b.owner, o))
    .filter((v) => v.security_groups.includes(b.name))
    .map((v) => v.name);
  if (users.length) throw conflict('name', `security group ${b.name} is used by VMs ${users.join(', ')}`);
  const refs = (await ctx.inventory.securityGroups.list(b.owner, o))
    .filter((g) => g.name !== b.name && g.rules.some((r) => r.remote_group === b.name))
    .map((g) => g.name);
  if (refs.length)
    throw conflict('name', `security group ${b.name} is named by the rules of ${refs.join(', ')}`);
  await requireIdle(ctx, b.owner, 'security_group', b.name);
  return accept<Task<'security_group DELETE'>>(ctx, {
    principal: p,
    requestId,
    owner: b.owner,
    type: 'security_group',
    method: 'DELETE',
    name: b.name,
    stage: 'X',
    message: async (common) => ({ ...common, type: 'security_group', method: 'DELETE' }),
  });
}
