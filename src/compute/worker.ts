// The VM worker (`vm` queue) and the rollback worker (`vm_rollback`): each task is handled once per attempt
// (the `handled` table), its result recorded before it is published, and the message acked only after.
import type { Delivery } from '../lib/bus/bus.ts';
import { parseTask, type ResultMessage, type TaskMessage } from '../lib/messages.ts';
import type { ComputeContext } from './context.ts';
import { createVm, destroyVm, portsOf, updateVm, vmByName, vmByTask } from './vms.ts';

interface Outcome {
  result: Omit<ResultMessage, 'task_id'>;
  /** The task for the network service, when ports must be tagged or dropped. */
  network?: Record<string, unknown>;
}

type Kind = 'task' | 'rollback';

async function run(ctx: ComputeContext, t: TaskMessage, kind: Kind): Promise<Outcome> {
  const base = {
    task_id: t.task_id,
    type: 'vm' as const,
    owner: t.owner,
    name: t.name,
    retries: t.retries,
    attempt: t.attempt,
    request_id: t.request_id,
  };
  if (kind === 'rollback') return rollback(ctx, t, base);
  switch (t.method) {
    case 'POST': {
      const { vm, host } = await createVm(ctx, t);
      const ports = portsOf(vm.nics);
      return {
        result: {
          status: 'successful',
          host: host.name,
          network_pending: ports.length > 0,
          interfaces: vm.nics.map(({ network, mac, ip }) => ({ network, mac, ip })).filter((n) => n.network),
        },
        network: ports.length ? { ...base, method: 'POST', host: host.name, interfaces: ports } : undefined,
      };
    }
    case 'DELETE': {
      const vm = await destroyVm(ctx, await vmByName(ctx, t.owner, t.name));
      const ports = vm ? portsOf(vm.nics) : [];
      return {
        result: { status: 'successful', network_pending: ports.length > 0 },
        network: ports.length ? { ...base, method: 'DELETE', host: vm!.host, interfaces: ports } : undefined,
      };
    }
    case 'PUT': {
      const { host, added, removed } = await updateVm(ctx, t);
      const changed = added.length + removed.length > 0;
      return {
        result: { status: 'successful', host: host.name, network_pending: changed },
        network: changed
          ? { ...base, method: 'PUT', host: host.name, interfaces: portsOf(added), removed: portsOf(removed) }
          : undefined,
      };
    }
  }
}

/** Undoes a failed task: a half-made VM goes entirely; a failed delete brings the VM back up when it can. */
async function rollback(
  ctx: ComputeContext,
  t: TaskMessage,
  base: Record<string, unknown>,
): Promise<Outcome> {
  if (t.method === 'POST') {
    const vm = await destroyVm(ctx, await vmByTask(ctx, t.task_id));
    const ports = vm ? portsOf(vm.nics) : [];
    // Ports the network service may have tagged go too; it answers nobody (notify: false).
    return {
      result: { status: 'successful', rollback: true },
      network: ports.length
        ? { ...base, method: 'DELETE', host: vm!.host, interfaces: ports, notify: false }
        : undefined,
    };
  }
  if (t.method === 'DELETE') {
    const vm = await vmByName(ctx, t.owner, t.name);
    if (!vm)
      return {
        result: { status: 'failed', rollback: true, error: 'the VM was already removed from its host' },
      };
    const host = await ctx.catalogue.host(vm.host);
    if (host) await ctx.hypervisor.start(host.libvirt_uri, vm.domain);
    await ctx.db.updateTable('vms').set({ state: 'running' }).where('id', '=', vm.id).execute();
  }
  return { result: { status: 'successful', rollback: true } };
}

async function publish(ctx: ComputeContext, t: TaskMessage, o: Outcome) {
  if (o.network) await ctx.bus.publish('network', o.network, { requestId: t.request_id });
  await ctx.bus.publish(
    'vm_notification',
    { task_id: t.task_id, attempt: t.attempt, retries: t.retries, from: 'compute', ...o.result },
    { requestId: t.request_id },
  );
}

export function vmHandler(ctx: ComputeContext, kind: Kind) {
  return async (d: Delivery) => {
    const t = parseTask(d.body);
    const log = ctx.log.child({
      reqId: t.request_id ?? d.requestId,
      task: t.task_id,
      method: t.method,
      kind,
    });
    const done = await ctx.db
      .selectFrom('handled')
      .select('result')
      .where('task_id', '=', t.task_id)
      .where('attempt', '=', t.attempt)
      .where('kind', '=', kind)
      .executeTakeFirst();
    if (done) {
      log.info('task already handled; answering its recorded result again');
      return publish(ctx, t, done.result as unknown as Outcome);
    }
    let outcome: Outcome;
    try {
      outcome = await run(ctx, t, kind);
      log.info({ result: outcome.result.status }, 'vm task done');
    } catch (e) {
      const error = (e as Error).message;
      log.warn({ err: e }, 'vm task failed');
      outcome = { result: { status: 'failed', error, ...(kind === 'rollback' ? { rollback: true } : {}) } };
    }
    await ctx.db
      .insertInto('handled')
      .values({ task_id: t.task_id, attempt: t.attempt, kind, result: JSON.stringify(outcome) })
      .onConflict((oc) => oc.columns(['task_id', 'attempt', 'kind']).doNothing())
      .execute();
    await publish(ctx, t, outcome);
  };
}
