// What a task's results mean for its inventory object: a successful step moves the record on, a finished
// rollback undoes what the request wrote. Every effect is idempotent (a redelivered result repeats it).
import type { TaskResult } from '../lib/contracts/messages.ts';
import type { ControllerContext } from './context.ts';
import type { TaskRow } from './store.ts';

export interface Outcome {
  /** Another result (the network step) is still to come. */
  pending: boolean;
  stage: string;
  state?: string;
}

const PLURAL = { vm: 'vms', network: 'networks', router: 'routers' } as const;

function pathOf(task: TaskRow): string {
  return `/${task.workspace}/${PLURAL[task.type as keyof typeof PLURAL]}/${task.object}/`;
}

/** The stage of a VM task whose network answer came before compute's. */
const NETWORK_FIRST = 'network answered';

/** Workers report each NIC's MAC; the address stays the one inventory gave when the VM was made. */
function macsOf(r: TaskResult): { interfaces?: { network: string; mac: string }[] } {
  if (!Array.isArray(r.interfaces)) return {};
  const nics = (r.interfaces as { network?: string; mac?: string }[]).filter((i) => i.network && i.mac);
  return nics.length ? { interfaces: nics.map((i) => ({ network: i.network!, mac: i.mac! })) } : {};
}

export async function applySuccess(ctx: ControllerContext, task: TaskRow, r: TaskResult): Promise<Outcome> {
  const inv = ctx.inventory;
  const rid = task.request_id;
  const body = task.body;
  const hostPart = typeof r.host === 'string' ? { host: r.host } : {};

  if (task.type === 'interface') {
    const path = `/${task.workspace}/routers/${String(body.router)}/interfaces/`;
    if (task.method === 'POST') {
      await inv.post(path, { network: body.network, ip: body.ip }, rid).catch((e) => {
        if ((e as { kind?: string }).kind !== 'conflict') throw e;
      });
    } else await inv.del(`${path}${String(body.network)}/`, rid);
    return { pending: false, stage: 'done' };
  }

  // A VM step has two answers, compute's and (when it has ports) network's, on two queues: either may come
  // first. The task ends on the second one; the first only moves the stage on.
  const computeDone = task.stage === 'C_N' || task.stage === 'network';
  if (task.type === 'vm' && r.from === 'network' && !computeDone)
    return { pending: true, stage: NETWORK_FIRST };
  if (r.network_pending && task.stage !== NETWORK_FIRST) {
    const state = task.method === 'POST' ? 'C_N' : undefined;
    if (state || r.host)
      await inv.put(pathOf(task), { ...(state ? { state } : {}), ...hostPart, ...macsOf(r) }, rid);
    return { pending: true, stage: state ?? 'network', state };
  }

  switch (task.method) {
    case 'POST': {
      const extra = task.type === 'network' ? { vlan: r.vlan ?? null } : hostPart;
      await inv.put(pathOf(task), { state: 'U', ...extra, ...(task.type === 'vm' ? macsOf(r) : {}) }, rid);
      return { pending: false, stage: 'U', state: 'U' };
    }
    case 'PUT': {
      const u = (body.update_dict ?? {}) as Record<string, unknown>;
      await inv.put(pathOf(task), { ...u, ...hostPart }, rid);
      return { pending: false, stage: 'updated' };
    }
    default:
      await inv.del(pathOf(task), rid);
      return { pending: false, stage: 'deleted', state: 'deleted' };
  }
}

/** Undoes the request's own inventory writes; answers the object's state afterwards. */
export async function applyRollback(
  ctx: ControllerContext,
  task: TaskRow,
  r: TaskResult,
): Promise<string | undefined> {
  if (task.type === 'interface') return undefined;
  const rid = task.request_id;
  switch (task.method) {
    case 'POST':
      // The record goes, and with a VM record its address goes back to the area.
      await ctx.inventory.del(pathOf(task), rid);
      return 'deleted';
    case 'DELETE': {
      const state = r.status === 'successful' ? String(task.previous?.state ?? 'U') : 'E';
      await ctx.inventory.put(pathOf(task), { state }, rid);
      return state;
    }
    default:
      return typeof task.previous?.state === 'string' ? task.previous.state : undefined;
  }
}
