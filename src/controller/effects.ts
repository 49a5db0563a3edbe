// What a task's results mean for its inventory object: a successful step moves the record on, a finished
// rollback undoes what the request wrote. Every effect is idempotent (a redelivered result repeats it).
import { NetState, VmState } from '../lib/contracts/common.ts';
import { checker } from '../lib/contracts/validate.ts';
import type { TaskResult } from '../lib/contracts/messages.ts';
import { isAppError } from '../lib/errors.ts';
import type { ControllerContext } from './context.ts';
import type { TaskRow } from './store.ts';

export interface Outcome {
  /** Another result (the network step) is still to come. */
  pending: boolean;
  stage: string;
  state?: string;
}

const vmStates = checker(VmState);
const netStates = checker(NetState);

/** The stage of a VM task whose network answer came before compute's. */
const NETWORK_FIRST = 'network answered';

/** Workers report each NIC's MAC; the address stays the one inventory gave when the VM was made. */
function macsOf(r: TaskResult): { interfaces?: { network: string; mac: string }[] } {
  const nics = (r.interfaces ?? []).filter((i) => i.network && i.mac);
  return nics.length ? { interfaces: nics.map(({ network, mac }) => ({ network, mac })) } : {};
}

type Inventory = ControllerContext['inventory'];

/** The task's own record: update it (404 ignored: it went meanwhile) or remove it. */
function recordOf(inv: Inventory, task: TaskRow) {
  const o = { requestId: task.request_id };
  const [ws, name] = [task.workspace, task.object];
  return {
    vm: (body: Parameters<Inventory['vms']['update']>[2]) => inv.vms.update(ws, name, body, o),
    network: (body: Parameters<Inventory['networks']['update']>[2]) => inv.networks.update(ws, name, body, o),
    router: (body: Parameters<Inventory['routers']['update']>[2]) => inv.routers.update(ws, name, body, o),
    remove: () =>
      (task.type === 'vm' ? inv.vms : task.type === 'network' ? inv.networks : inv.routers).remove(
        ws,
        name,
        o,
      ),
  };
}

export async function applySuccess(ctx: ControllerContext, task: TaskRow, r: TaskResult): Promise<Outcome> {
  const inv = ctx.inventory;
  const body = task.body;
  // A workspace's teardown removed its records itself (src/controller/teardown.ts).
  if (body.type === 'workspace') return { pending: false, stage: 'deleted', state: 'deleted' };
  const record = recordOf(inv, task);
  const host = r.host !== undefined ? { host: r.host } : {};

  if (body.type === 'interface') {
    const o = { requestId: task.request_id };
    if (body.method === 'POST') {
      await inv.interfaces
        .create(task.workspace, body.router, { network: body.network, ip: body.ip }, o)
        .catch((e: unknown) => {
          if (!isAppError(e) || e.kind !== 'conflict') throw e;
        });
    } else await inv.interfaces.remove(task.workspace, body.router, body.network, o);
    return { pending: false, stage: 'done' };
  }

  // A security group's record was written when the task was accepted; only a deletion is left to do.
  if (body.type === 'security_group') {
    if (body.method === 'DELETE') {
      await inv.securityGroups.remove(task.workspace, task.object, { requestId: task.request_id });
      return { pending: false, stage: 'deleted', state: 'deleted' };
    }
    return { pending: false, stage: body.method === 'POST' ? 'U' : 'updated' };
  }

  // A VM step has two answers, compute's and (when it has ports) network's, on two queues: either may come
  // first. The task ends on the second one; the first only moves the stage on.
  if (body.type === 'vm') {
    const computeDone = task.stage === 'C_N' || task.stage === 'network';
    if (r.from === 'network' && !computeDone) return { pending: true, stage: NETWORK_FIRST };
    if (r.network_pending && task.stage !== NETWORK_FIRST) {
      const state: VmState | undefined = body.method === 'POST' ? 'C_N' : undefined;
      // A revert to a running snapshot: the VM runs again, its ports are being made ready.
      const reverted = body.method === 'SNAPSHOT' ? r.state : undefined;
      if (state || r.host || reverted)
        await record.vm({
          ...(state ? { state } : {}),
          ...(reverted ? { state: reverted } : {}),
          ...host,
          ...macsOf(r),
        });
      return { pending: true, stage: state ?? 'network', state };
    }
  }

  switch (body.method) {
    case 'POST':
      if (body.type === 'vm') await record.vm({ state: 'U', ...host, ...macsOf(r) });
      else if (body.type === 'network') await record.network({ state: 'U', vlan: r.vlan ?? null });
      else await record.router({ state: 'U', ...host });
      return { pending: false, stage: 'U', state: 'U' };
    case 'PUT':
      if (body.type === 'vm') await record.vm({ ...body.update_dict, ...host });
      else await record.network({ ...body.update_dict });
      return { pending: false, stage: 'updated' };
    case 'DELETE':
      await record.remove();
      return { pending: false, stage: 'deleted', state: 'deleted' };
    case 'POWER': {
      const state: VmState = body.action === 'start' || body.action === 'reboot' ? 'U' : 'D';
      await record.vm({ state, ...host });
      return { pending: false, stage: state, state };
    }
    case 'SNAPSHOT':
      return snapshotDone(inv, task, body, r);
    case 'MIGRATE':
      await record.vm({ ...host });
      return { pending: false, stage: r.host ? `migrated to ${r.host}` : 'migrated' };
    // The host's flag was set when the task was accepted; compute recorded each moved VM's new host.
    case 'DRAIN':
      return { pending: false, stage: 'drained' };
    case 'RESTORE':
      return { pending: false, stage: 'restored' };
  }
}

/** A snapshot task done: the record is ready, the VM in the state a revert left it in, or the record gone. */
async function snapshotDone(
  inv: Inventory,
  task: TaskRow,
  body: Extract<TaskRow['body'], { method: 'SNAPSHOT' }>,
  r: TaskResult,
): Promise<Outcome> {
  const o = { requestId: task.request_id };
  const [ws, vm, name] = [task.workspace, task.object, body.snapshot];
  if (body.action === 'create') {
    await inv.snapshots.update(ws, vm, name, { state: 'U', running: r.snapshot_running ?? false }, o);
    return { pending: false, stage: `snapshot ${name} taken` };
  }
  if (body.action === 'delete') {
    await inv.snapshots.remove(ws, vm, name, o);
    return { pending: false, stage: `snapshot ${name} deleted` };
  }
  if (r.state) await inv.vms.update(ws, vm, { state: r.state, ...(r.host ? { host: r.host } : {}) }, o);
  return { pending: false, stage: `reverted to ${name}`, state: r.state };
}

/** Undoes the request's own inventory writes; answers the object's state afterwards. */
export async function applyRollback(
  ctx: ControllerContext,
  task: TaskRow,
  r: TaskResult,
): Promise<string | undefined> {
  const body = task.body;
  if (body.type === 'interface') return undefined;
  if (body.type === 'workspace') {
    // What is left of the workspace is in use again (the objects deleted so far stay deleted).
    await ctx.inventory.workspaces.update(task.workspace, { state: 'U' }, { requestId: task.request_id });
    return 'U';
  }
  if (body.type === 'security_group') {
    const o = { requestId: task.request_id };
    if (body.method === 'POST') {
      await ctx.inventory.securityGroups.remove(task.workspace, task.object, { ...o, task: task.id });
      return 'deleted';
    }
    if (body.method === 'PUT')
      await ctx.inventory.securityGroups.update(
        task.workspace,
        task.object,
        { rules: body.previous_rules },
        o,
      );
    return undefined;
  }
  // A VM's groups and size were written when the change was accepted: they go back.
  if (body.type === 'vm' && body.method === 'PUT') {
    const u = body.update_dict;
    const resized = u.cpu !== undefined || u.ram !== undefined;
    if (u.security_groups || resized)
      await ctx.inventory.vms.update(
        task.workspace,
        task.object,
        {
          ...(u.security_groups ? { security_groups: body.vm.security_groups } : {}),
          ...(resized ? { cpu: body.vm.cpu, ram: body.vm.ram } : {}),
        },
        { requestId: task.request_id },
      );
  }
  const record = recordOf(ctx.inventory, task);
  const previous = task.previous?.state;
  switch (body.method) {
    case 'POST':
      // The record goes, and with a VM record its address goes back to the area.
      await record.remove();
      return 'deleted';
    case 'DELETE': {
      if (body.type === 'vm') {
        const state = r.status !== 'successful' ? 'E' : vmStates.is(previous) ? previous : 'U';
        await record.vm({ state });
        return state;
      }
      const state = r.status !== 'successful' ? 'E' : netStates.is(previous) ? previous : 'U';
      await (body.type === 'network' ? record.network({ state }) : record.router({ state }));
      return state;
    }
    case 'SNAPSHOT':
      // A snapshot that could not be taken goes (compute deleted whatever was made of it); a failed revert
      // or delete leaves the snapshot as it was, and the record learns the power state the host reports.
      if (body.type === 'vm' && body.action === 'create')
        await ctx.inventory.snapshots.remove(task.workspace, task.object, body.snapshot, {
          requestId: task.request_id,
        });
      if (r.state) await record.vm({ state: r.state });
      return r.state ?? previous;
    case 'POWER':
      // Nothing to undo: the record learns what the host reports.
      if (r.state) await record.vm({ state: r.state });
      return r.state ?? previous;
    default:
      return previous;
  }
}
