// A host's drain (issue 18 item 2): the host is out of placement first (inventory's maintenance flag, copied
// here before the task runs; set here too so nothing waits for the next catalogue refresh), then every VM
// running on it moves live to a host placement picks, `parallel` at a time, each move reported as progress;
// a stopped VM's definition moves too (else a start would run it on the host being serviced).
// A VM that cannot move stays where it runs; the task then fails naming each one, and the host stays in
// maintenance for the operator to decide (drain again, or restore). Running it again moves what is left.
// Anti-affinity groups (affinity.ts) are kept: a VM whose only destinations run another VM of its group stays,
// named with its group, unless the operator drains with break_affinity (then it moves and the task warns).
import type { HostDrainTask, HostRestoreTask, VmMigrateTask } from '../lib/contracts/messages.ts';
import { inputError, isAppError } from '../lib/errors.ts';
import { createGroupLocks, placeApart, sharedHostWarning } from './affinity.ts';
import type { ComputeContext } from './context.ts';
import { migrateVm, moveStoppedVm, type MigrateSettings } from './migrate.ts';
import type { VmRow } from './vms.ts';

/** Runs fn over items, at most `limit` at a time; answers each outcome in order. */
async function pooled<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>) {
  const out: PromiseSettledResult<R>[] = [];
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]).then(
        (value) => ({ status: 'fulfilled', value }) as const,
        (reason: unknown) => ({ status: 'rejected', reason }) as const,
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}

async function setMaintenance(d: Pick<ComputeContext, 'db'>, host: string, on: boolean) {
  await d.db.updateTable('hosts').set({ maintenance: on }).where('name', '=', host).execute();
}

export async function drainHost(
  d: ComputeContext,
  t: HostDrainTask,
  settings: MigrateSettings,
  progress: (stage: string) => Promise<void>,
): Promise<{ moved: number; warning?: string }> {
  const host = await d.catalogue.host(t.name);
  if (!host) throw inputError('host', `host ${t.name} is not in the catalogue`);
  await setMaintenance(d, t.name, true);
  const vms: VmRow[] = await d.db
    .selectFrom('vms')
    .selectAll()
    .where('host', '=', t.name)
    .where('state', 'in', ['running', 'stopped'])
    .orderBy('id')
    .execute();
  const total = vms.length;
  let done = 0;
  await progress(`draining ${t.name}: ${total} VMs to move`);
  // Destinations chosen but not recorded yet, per group: two VMs of one group moving at once see each other.
  const pending = new Map<string, Map<string, string[]>>();
  const warnings: string[] = [];
  const locks = d.groupLocks ?? createGroupLocks();
  const destination = (vm: VmRow) => {
    const g = { workspace: vm.workspace, group: vm.affinity_group, self: vm.id };
    return locks(g, async () => {
      const key = `${vm.workspace}/${vm.affinity_group}`;
      const mine = pending.get(key) ?? new Map<string, string[]>();
      const r = {
        area: host.area,
        memoryMib: vm.memory_mib,
        vcpus: vm.vcpus,
        exclude: [t.name],
        domain: vm.domain,
      };
      const spread = await placeApart(d.db, d.placement, r, g, {
        strict: !t.break_affinity,
        pending: mine,
      }).catch((e: unknown) => {
        throw isAppError(e) && e.field === 'affinity_group'
          ? new Error(`${e.message}; it stays on ${t.name} (drain with break_affinity to move it anyway)`)
          : e;
      });
      if (vm.affinity_group) {
        mine.set(spread.host, [...(mine.get(spread.host) ?? []), vm.name]);
        pending.set(key, mine);
        if (spread.joins.length)
          warnings.push(`${vm.workspace}/${vm.name}: ${sharedHostWarning(vm.affinity_group, spread)}`);
      }
      return spread.host;
    });
  };
  /** The same work as a migrate task: one per VM, named after the drain. */
  const moveRunning = async (vm: VmRow, to: string, area: string) => {
    const move: VmMigrateTask = {
      task_id: `${t.task_id}-${vm.id}`,
      type: 'vm',
      method: 'MIGRATE',
      owner: vm.workspace,
      name: vm.name,
      retries: 0,
      attempt: t.attempt,
      to,
      from: t.name,
      area,
    };
    await migrateVm(d, move, settings, async (stage) =>
      progress(`draining ${t.name} (${done}/${total} moved): ${vm.workspace}/${vm.name} ${stage}`),
    );
  };
  const results = await pooled(vms, t.parallel, async (vm) => {
    const to = await destination(vm);
    if (vm.state === 'stopped') {
      await moveStoppedVm(d, vm, to);
    } else {
      await moveRunning(vm, to, host.area);
    }
    await d.records.setHost(vm.workspace, vm.name, to);
    done++;
    await progress(`draining ${t.name} (${done}/${total} moved): ${vm.workspace}/${vm.name} now on ${to}`);
    return to;
  });
  const failed = results.flatMap((r, i) =>
    r.status === 'rejected'
      ? [
          `${vms[i].workspace}/${vms[i].name}: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`,
        ]
      : [],
  );
  if (failed.length)
    throw new Error(
      `${failed.length} of ${total} VMs still on ${t.name}: ${failed.join('; ')}` +
        (warnings.length ? `; moved anyway: ${warnings.join('; ')}` : ''),
    );
  return { moved: total, warning: warnings.length ? warnings.join('; ') : undefined };
}

export async function restoreHost(d: ComputeContext, t: HostRestoreTask): Promise<void> {
  if (!(await d.catalogue.host(t.name))) throw inputError('host', `host ${t.name} is not in the catalogue`);
  await setMaintenance(d, t.name, false);
}
