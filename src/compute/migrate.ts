// A VM's live migration to another host of its area (issue 18): libvirt's peer-to-peer live migration, the
// disk staying on the shared pool. The switch-over is held back until the destination's ports are ready: the
// migration starts with a 1 ms maximum downtime and a low bandwidth cap, which QEMU cannot meet, so it keeps
// copying memory while the network service records and tags the destination's ports and installs the public
// port's anti-spoofing rules (the ports exist from the moment the incoming domain does); only then are the
// real downtime and bandwidth set and the switch happens. The outcome is checked either way: the domain runs
// on exactly one host, and the record says which.
import { randomUUID } from 'node:crypto';
import { QUEUES, type VmMigrateTask } from '../lib/contracts/messages.ts';
import { conflict, inputError } from '../lib/errors.ts';
import type { ComputeContext } from './context.ts';
import type { DomainState, Hypervisor } from './hypervisor.ts';
import { portsTask } from './failover/ports.ts';
import { groupHosts, placeApart, sharedHostWarning } from './affinity.ts';
import { adoptSnapshots, releaseSnapshots } from './snapshots.ts';
import { vmByName, type VmRow } from './vms.ts';

export interface MigrateSettings {
  /** Seconds the whole migration may take before it is aborted (the VM stays where it was). */
  timeoutSeconds: number;
  /** The switch-over's longest pause (ms), set once the destination is ready. */
  downtimeMs: number;
  /** Bandwidth cap once the destination is ready (MiB/s). */
  bandwidthMib: number;
}

export const MIGRATE_DEFAULTS: MigrateSettings = { timeoutSeconds: 300, downtimeMs: 300, bandwidthMib: 1024 };

/** What QEMU cannot meet while the destination's ports are made ready. */
const HOLD = { downtimeMs: 1, bandwidthMib: 1 };

type Deps = Pick<
  ComputeContext,
  'db' | 'bus' | 'catalogue' | 'placement' | 'hypervisor' | 'storage' | 'snapshotMetadata' | 'log'
>;
type HostRow = NonNullable<Awaited<ReturnType<ComputeContext['catalogue']['host']>>>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function hostRow(d: Deps, name: string): Promise<HostRow> {
  const h = await d.catalogue.host(name);
  if (!h) throw inputError('host', `host ${name} is not in the catalogue`);
  return h;
}

/** The domain's state on each host, read together. */
async function where(hv: Hypervisor, domain: string, a: HostRow, b: HostRow) {
  const [onA, onB] = await Promise.all([hv.state(a.libvirt_uri, domain), hv.state(b.libvirt_uri, domain)]);
  return { onA, onB };
}

async function moved(d: Deps, vm: VmRow, to: string): Promise<void> {
  await d.db.updateTable('vms').set({ host: to }).where('id', '=', vm.id).execute();
}

/**
 * Moves the task's VM live; answers the host it runs on afterwards. Idempotent by outcome: a redelivered
 * task whose VM already runs on the destination only records that.
 */
export async function migrateVm(
  d: Deps,
  t: VmMigrateTask,
  settings: MigrateSettings,
  progress: (stage: string) => Promise<void>,
): Promise<{ vm: VmRow; from: string; to: string; warning?: string }> {
  const vm = await vmByName(d, t.owner, t.name);
  if (!vm) throw inputError('name', `vm ${t.owner}/${t.name} is not on any host`);
  const src = await hostRow(d, vm.host);
  const srcState = await d.hypervisor.state(src.libvirt_uri, vm.domain);
  if (srcState === undefined && t.to && t.to !== src.name) {
    // A redelivery after the switch: the domain already runs on the destination.
    const dst = await hostRow(d, t.to);
    if ((await d.hypervisor.state(dst.libvirt_uri, vm.domain)) === 'running') {
      await adoptSnapshots(d, vm, dst);
      await moved(d, vm, dst.name);
      return { vm, from: src.name, to: dst.name };
    }
  }
  if (srcState !== 'running')
    throw conflict(
      'name',
      `vm ${t.owner}/${t.name} is ${srcState ?? 'absent'} on ${src.name}: only a running VM moves live`,
    );
  // Placement keeps the VM away from its anti-affinity group while it can; else it moves anyway, warned. A
  // host named by the admin is taken as asked (warned too when it runs another VM of the group).
  const group = { workspace: vm.workspace, group: vm.affinity_group, self: vm.id };
  const spread = t.to
    ? { host: t.to, joins: (await groupHosts(d.db, group)).get(t.to) ?? [] }
    : await placeApart(
        d.db,
        d.placement,
        { area: src.area, memoryMib: vm.memory_mib, vcpus: vm.vcpus, exclude: [src.name], domain: vm.domain },
        group,
      );
  const to = spread.host;
  const warning =
    vm.affinity_group && spread.joins.length
      ? sharedHostWarning(vm.affinity_group, spread, t.to ? 'the host asked for' : undefined)
      : undefined;
  if (to === src.name) throw inputError('host', `vm ${t.owner}/${t.name} already runs on ${to}`);
  const dst = await hostRow(d, to);
  if (dst.area !== src.area) throw inputError('host', `host ${to} is not in area ${src.area}`);
  if (!dst.up) throw conflict('host', `host ${to} is down`);
  // A stopped leftover of an earlier failed attempt would make libvirt refuse the incoming domain.
  if ((await d.hypervisor.state(dst.libvirt_uri, vm.domain)) === 'shut off')
    await d.hypervisor.undefine(dst.libvirt_uri, vm.domain);

  const log = d.log.child({ task: t.task_id, vm: `${t.owner}/${t.name}`, from: src.name, to });
  const hv = d.hypervisor;
  // libvirt refuses to migrate a domain with snapshot metadata: it is saved beside the disk and forgotten
  // here, then redefined where the domain ends up (the snapshots' data travels in the disk).
  if (await releaseSnapshots(d, vm, src)) await progress(`migrating to ${to}: snapshots saved`);
  await hv.setMaxDowntime(src.libvirt_uri, vm.domain, HOLD.downtimeMs);
  await progress(`migrating to ${to}: starting`);
  const deadline = Date.now() + settings.timeoutSeconds * 1000;
  let settled: { error?: unknown } | undefined;
  const job = hv
    .migrate(src.libvirt_uri, vm.domain, {
      destUri: dst.libvirt_uri,
      migrateUri: `tcp://${dst.address}`,
      bandwidthMib: HOLD.bandwidthMib,
      // The migrate command outlives our own deadline a little: we abort the job, virsh then returns.
      timeoutMs: settings.timeoutSeconds * 1000 + 60_000,
    })
    .then(
      () => (settled = {}),
      (error: unknown) => (settled = { error }),
    );
  let failure: unknown;
  let holding = false;
  try {
    // The destination's ports exist once its incoming domain does.
    let incoming: DomainState | undefined;
    while (!settled && Date.now() < deadline) {
      incoming = await hv.state(dst.libvirt_uri, vm.domain);
      if (incoming !== undefined) break;
      await sleep(200);
    }
    if (!settled && incoming !== undefined) {
      await d.bus.rpc(
        QUEUES.portsPrepare,
        { ...portsTask(vm, to, 'POST'), method: 'POST', task_id: `migrate-${t.task_id}-${randomUUID()}` },
        { timeout: Math.max(5, Math.min(60, (deadline - Date.now()) / 1000)) },
      );
      await progress(`migrating to ${to}: ports ready`);
      holding = true;
    }
    let last = '';
    while (!settled && Date.now() < deadline) {
      const info = await hv.jobInfo(src.libvirt_uri, vm.domain).catch(() => undefined);
      if (info && info.total > 0) {
        // Released only once memory flows: until the source's libvirtd has started QEMU's migration (it waits
        // for the destination's QEMU first), it still applies the hold's bandwidth at that start, over any
        // speed set before. A drain on a busy machine lost that race and stayed at 1 MiB/s, at 99%, for 300 s.
        if (holding) {
          await hv.setMaxDowntime(src.libvirt_uri, vm.domain, settings.downtimeMs);
          await hv.setMigrateSpeed(src.libvirt_uri, vm.domain, settings.bandwidthMib);
          holding = false;
        }
        const pct = Math.min(99, Math.floor(((info.total - info.remaining) / info.total) * 100));
        const stage = `migrating to ${to}: ${pct}%`;
        if (stage !== last) await progress(stage);
        last = stage;
      }
      await sleep(1000);
    }
  } catch (e) {
    failure = e;
  } finally {
    if (!settled) {
      log.warn('migration did not finish in time (or could not be prepared): aborting it');
      await hv
        .abortJob(src.libvirt_uri, vm.domain)
        .catch((e: unknown) => log.warn({ err: e }, 'abort failed'));
    }
    await job;
  }

  // Exactly one copy must run, and the record must name its host.
  const { onA, onB } = await where(hv, vm.domain, src, dst);
  if (onB === 'running' && onA === undefined) {
    await adoptSnapshots(d, vm, dst);
    await moved(d, vm, to);
    // The source's port is gone with the domain: its records and rules go too (nobody waits for that).
    await d.bus.publish(QUEUES.network, portsTask(vm, src.name, 'DELETE'));
    log.info('VM migrated live');
    return { vm, from: src.name, to, warning };
  }
  if (onA === 'running' && onB === undefined) {
    await adoptSnapshots(d, vm, src);
    // Whatever the network service made ready there goes again.
    await d.bus.publish(QUEUES.network, portsTask(vm, to, 'DELETE'));
    const cause = failure ?? settled?.error;
    const why = cause instanceof Error ? cause.message : `not done in ${settings.timeoutSeconds} s`;
    throw new Error(`migration to ${to} failed; the VM still runs on ${src.name}: ${why}`);
  }
  throw new Error(
    `migration to ${to} ended with the domain ${onA ?? 'absent'} on ${src.name} and ${onB ?? 'absent'} on ${to}`,
  );
}

/**
 * Moves a stopped VM to `to` (a drain leaves its host empty): its definition is copied there first and removed
 * here after, so a crash between the two leaves it defined twice (the redelivery finishes the move), never
 * nowhere. Its snapshots' metadata goes with it as in a live move. Idempotent by outcome.
 */
export async function moveStoppedVm(d: Deps, vm: VmRow, to: string): Promise<void> {
  const src = await hostRow(d, vm.host);
  const dst = await hostRow(d, to);
  const hv = d.hypervisor;
  const { onA, onB } = await where(hv, vm.domain, src, dst);
  const who = `vm ${vm.workspace}/${vm.name}`;
  if (onA !== undefined) {
    if (onA !== 'shut off')
      throw conflict(
        'name',
        `${who} is ${onA} on ${src.name}: it was started during the drain (drain again)`,
      );
    const xml = await hv.definition(src.libvirt_uri, vm.domain);
    if (onB === undefined) await hv.define(dst.libvirt_uri, xml);
    await releaseSnapshots(d, vm, src);
    await hv.undefine(src.libvirt_uri, vm.domain);
    // A start that came between the look and the undefine keeps the guest running here, now transient: it
    // stays here, defined again, and the copy there goes.
    if ((await hv.state(src.libvirt_uri, vm.domain)) !== undefined) {
      await hv.define(src.libvirt_uri, xml);
      await hv.undefine(dst.libvirt_uri, vm.domain);
      await adoptSnapshots(d, vm, src);
      throw conflict('name', `${who} was started on ${src.name} during the drain (drain again)`);
    }
  } else if (onB === undefined) {
    throw new Error(`${who}: its domain is defined on neither ${src.name} nor ${to}`);
  }
  await adoptSnapshots(d, vm, dst);
  await moved(d, vm, to);
}
