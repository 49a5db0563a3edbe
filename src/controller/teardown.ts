// The workspace teardown worker (issue 14.4): consumes the controller's own `workspace` queue. A workspace
// marked being deleted loses its VMs, then its routers, then its networks, each deleted by the same use case
// a member's DELETE goes through (a task per object, done by compute and network: domains and disks
// destroyed, addresses back to their area, router namespaces removed, VLANs freed), then inventory removes
// its records. The task's stage tells the progress; each step is told to the workspace room.
//
// Idempotent by task: a redelivered task lists what is left and carries on (objects already being deleted
// are waited for). An object whose delete keeps failing fails the teardown after a few tries; the
// controller then retries it, and at last rolls it back (the workspace is in use again, with what is left).
import type { Principal } from '../lib/auth.ts';
import { ALL_PERMISSIONS } from '../lib/auth.ts';
import type { Bus, Consumer } from '../lib/bus/bus.ts';
import type { TaskResult, WorkspaceDeleteTask } from '../lib/contracts/messages.ts';
import { isAppError } from '../lib/errors.ts';
import type { ControllerContext } from './context.ts';
import { setStage } from './store.ts';
import { deleteNetwork, deleteRouter } from './usecases/networks.ts';
import { notifyTask } from './usecases/notify.ts';
import { deleteVm } from './usecases/vms.ts';

export interface TeardownOptions {
  /** Milliseconds between looks at what is left. */
  pollMs?: number;
  /** Milliseconds one kind (VMs, routers, networks) may take. */
  kindTimeoutMs?: number;
  /** Deletes of one object that may fail before the teardown fails. */
  attempts?: number;
}

const KINDS = ['vm', 'router', 'network'] as const;
type Kind = (typeof KINDS)[number];
const PLURAL: Record<Kind, string> = { vm: 'VMs', router: 'routers', network: 'networks' };

class TeardownError extends Error {}

export async function consumeTeardowns(
  ctx: ControllerContext,
  bus: Bus,
  o: TeardownOptions = {},
): Promise<Consumer[]> {
  const done = (
    t: { task_id: string; attempt: number; retries: number },
    r: Pick<TaskResult, 'status' | 'error' | 'rollback'>,
  ) =>
    bus.publish('workspace_notification', {
      task_id: t.task_id,
      attempt: t.attempt,
      retries: t.retries,
      from: 'controller',
      ...r,
    });
  return Promise.all([
    bus.consume(
      'workspace',
      async (d) => {
        const error = await teardown(ctx, d.body, o).then(
          () => undefined,
          (e: unknown) => (e instanceof Error ? e.message : String(e)),
        );
        if (error) ctx.log.warn({ reqId: d.body.request_id, task: d.body.task_id, error }, 'teardown failed');
        await done(d.body, error ? { status: 'failed', error } : { status: 'successful' });
      },
      { prefetch: 4 },
    ),
    // Nothing to undo here: the controller puts the workspace back in use when the rollback result comes.
    bus.consume('workspace_rollback', async (d) => {
      await done(d.body, { status: 'successful', rollback: true });
    }),
  ]);
}

async function teardown(ctx: ControllerContext, t: WorkspaceDeleteTask, o: TeardownOptions): Promise<void> {
  const pollMs = o.pollMs ?? 1000;
  const attempts = o.attempts ?? 3;
  const ws = t.owner;
  const requestId = t.request_id ?? t.task_id;
  const c = { requestId };
  const detail = await ctx.inventory.workspaces.get(ws, c);
  if (!detail) return; // gone already: a redelivery after the last step
  // The objects' tasks are the controller's own (no member's flags needed), filed under the workspace.
  const self: Principal = {
    username: 'kloudak-controller',
    isService: true,
    service: 'controller',
    isAdmin: false,
    workspaces: Object.assign(Object.create(null) as Principal['workspaces'], {
      [ws]: { id: detail.id, owner: false, perms: ALL_PERMISSIONS },
    }),
  };
  const stage = async (s: string) => {
    await setStage(ctx.db, t.task_id, s);
    void notifyTask(ctx, {
      id: t.task_id,
      workspace: ws,
      type: 'workspace',
      method: 'DELETE',
      object: ws,
      status: 'running',
      stage: s,
    });
  };
  const lists: Record<Kind, () => Promise<{ name: string; state: string }[]>> = {
    vm: () => ctx.inventory.vms.list(ws, c),
    router: () => ctx.inventory.routers.list(ws, c),
    network: () => ctx.inventory.networks.list(ws, c),
  };
  const deletes: Record<Kind, (name: string) => Promise<unknown>> = {
    vm: (name) => deleteVm(ctx, self, { owner: ws, name }, requestId),
    router: (name) => deleteRouter(ctx, self, { owner: ws, name }, requestId),
    network: (name) => deleteNetwork(ctx, self, { owner: ws, name }, requestId),
  };

  for (const kind of KINDS) {
    const tried = new Map<string, number>();
    const deadline = Date.now() + (o.kindTimeoutMs ?? 20 * 60_000);
    let last = '';
    for (;;) {
      const left = await lists[kind]();
      if (!left.length) break;
      const s = `deleting ${PLURAL[kind]}: ${left.length} left`;
      if (s !== last) await stage((last = s));
      for (const x of left) {
        if (x.state === 'X') continue; // its delete task runs
        const n = (tried.get(x.name) ?? 0) + 1;
        if (n > attempts)
          throw new TeardownError(`${kind} ${x.name} could not be deleted (${attempts} tries)`);
        try {
          await deletes[kind](x.name);
          tried.set(x.name, n);
        } catch (e) {
          // Busy (another task runs on it, e.g. still being created) or gone meanwhile: look again later.
          if (!isAppError(e) || (e.kind !== 'conflict' && e.kind !== 'not_found')) throw e;
        }
      }
      if (Date.now() > deadline)
        throw new TeardownError(
          `${PLURAL[kind]} still left after the time allowed: ${left.map((x) => x.name).join(', ')}`,
        );
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }
  await stage('deleting the records');
  await ctx.inventory.workspaces.remove(ws, c);
}
