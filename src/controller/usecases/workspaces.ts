// Deleting a workspace (issue 14.4): its owner (or an admin) asks the controller, which accepts one task; the
// workspace is marked being deleted (no new object goes in), and the controller's teardown worker deletes its
// VMs, routers and networks through their workers, then its records (src/controller/teardown.ts).
import type { Principal } from '../../lib/auth.ts';
import type { Accepted, WorkspaceTarget } from '../../lib/contracts/controller.ts';
import type { WorkspaceDeleteTask } from '../../lib/contracts/messages.ts';
import { notAllowed } from '../../lib/errors.ts';
import type { ControllerContext } from '../context.ts';
import { accept, found, requireIdle } from './accept.ts';

export async function deleteWorkspace(
  ctx: ControllerContext,
  p: Principal,
  b: WorkspaceTarget,
  requestId: string,
): Promise<Accepted> {
  const access = p.workspaces[b.owner];
  if (!p.isAdmin && !access?.owner)
    throw notAllowed(
      access ? `only the owner of ${b.owner} deletes it` : `not a member of workspace ${b.owner}`,
      'owner',
    );
  const o = { requestId };
  const ws = await found(ctx.inventory.workspaces.get(b.owner, o), 'owner', `workspace ${b.owner}`);
  await requireIdle(ctx, b.owner, 'workspace', b.owner);
  return accept<WorkspaceDeleteTask>(ctx, {
    principal: p,
    requestId,
    owner: b.owner,
    workspaceId: ws.id,
    type: 'workspace',
    method: 'DELETE',
    name: b.owner,
    stage: 'X',
    message: async (common, steps) => {
      await steps.willUndo({ op: 'restore_workspace', workspace: b.owner });
      await ctx.inventory.workspaces.update(b.owner, { state: 'X' }, o);
      return { ...common, type: 'workspace', method: 'DELETE' };
    },
  });
}
