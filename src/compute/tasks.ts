// What each VM task does, one small function per task `<type> <method>` of the vm and vm_rollback queues.
// Each answers its result and the follow-up task for the network service: every VM has one (its private
// ports are recorded, its public port gets its anti-spoofing rules; until then the bridge drops what it sends).
import type { NetworkTask, TaskResult, VmRollback, VmTask } from '../lib/contracts/messages.ts';
import type { HandlerTable, Variant } from '../lib/handlers.ts';
import type { ComputeContext } from './context.ts';
import { applyPower, setRowState, stateAfter } from './power.ts';
import { resizeVm, sizeOf } from './resize.ts';
import {
  createVm,
  destroyVm,
  hostOf,
  portsOf,
  publicPortOf,
  updateVm,
  vmByName,
  vmByTask,
  type VmRow,
} from './vms.ts';
import { drainHost, restoreHost } from './drain.ts';
import { groupHosts } from './affinity.ts';
import { migrateVm, type MigrateSettings } from './migrate.ts';
import { snapshotTask, undoSnapshot } from './snapshot-tasks.ts';

/** The network service's part of a VM task: record the VM's ports on its host (and secure its public port),
 * change them, or drop them. */
export type PortsTask = Variant<NetworkTask, 'vm POST' | 'vm PUT' | 'vm DELETE'>;

export interface Outcome {
  result: Omit<TaskResult, 'task_id' | 'attempt' | 'retries' | 'from'>;
  /** The task for the network service, when ports must be tagged or dropped. */
  network?: PortsTask;
}

/** What the network follow-up of task t carries from it. */
export const followUp = (t: VmTask | VmRollback) => ({
  task_id: t.task_id,
  type: 'vm' as const,
  owner: t.owner,
  name: t.name,
  retries: t.retries,
  attempt: t.attempt,
  request_id: t.request_id,
});

type Create = Pick<ComputeContext, 'db' | 'catalogue' | 'placement' | 'hypervisor' | 'storage' | 'config'>;
type OnHosts = Pick<ComputeContext, 'db' | 'catalogue' | 'hypervisor' | 'storage'>;

async function create(t: Variant<VmTask, 'vm POST'>, d: Create): Promise<Outcome> {
  const { vm, host, warning } = await createVm(d, t);
  return {
    result: {
      status: 'successful',
      host: host.name,
      ...(warning ? { warning } : {}),
      network_pending: true,
      interfaces: vm.nics.flatMap(({ network, mac, ip }) => (network ? [{ network, mac, ip }] : [])),
    },
    network: {
      ...followUp(t),
      method: 'POST',
      host: host.name,
      interfaces: portsOf(vm.nics),
      public: publicPortOf(vm),
    },
  };
}

async function update(
  t: Variant<VmTask, 'vm PUT'>,
  d: Pick<ComputeContext, 'db' | 'catalogue' | 'hypervisor' | 'config'>,
): Promise<Outcome> {
  const { host, removed, ...rest } = await updateVm(d, t);
  const restarted = await resizeOf(t, d);
  const warning = t.update_dict.affinity_group ? await joinWarning(t, d) : undefined;
  // A stopped VM's new NICs have no port yet: they are tagged when it starts. A VM a resize started again has
  // every port made anew, its public port too (a new OpenFlow port: its rules are installed again).
  const tag = portsOf(restarted ? restarted.nics : rest.live ? rest.added : []);
  const drop = portsOf(removed);
  // New security groups are put on the hosts by the network service, as a port change without ports.
  // A rename too: the network service's records keep the VM's name (its security groups' members).
  const renamed =
    t.update_dict.name !== undefined && t.update_dict.name !== t.name ? t.update_dict.name : undefined;
  const changed =
    !!restarted || tag.length + drop.length > 0 || t.update_dict.security_groups !== undefined || !!renamed;
  return {
    result: {
      status: 'successful',
      host: host.name,
      network_pending: changed,
      ...(warning ? { warning } : {}),
    },
    network: changed
      ? {
          ...followUp(t),
          method: 'PUT',
          host: host.name,
          interfaces: tag,
          removed: drop,
          public: restarted ? publicPortOf(restarted) : undefined,
          ...(renamed ? { renamed_to: renamed } : {}),
        }
      : undefined,
  };
}

/** A VM joining a group on a host that already runs another of its VMs stays there: the task says so. */
async function joinWarning(t: Variant<VmTask, 'vm PUT'>, d: Pick<ComputeContext, 'db'>) {
  const vm =
    (await vmByName(d, t.owner, t.update_dict.name ?? t.name)) ?? (await vmByName(d, t.owner, t.name));
  if (!vm?.affinity_group) return undefined;
  const joins =
    (await groupHosts(d.db, { workspace: vm.workspace, group: vm.affinity_group, self: vm.id })).get(
      vm.host,
    ) ?? [];
  return joins.length
    ? `anti-affinity group ${vm.affinity_group} not honoured yet: ${vm.host} also runs ${joins.join(', ')}; ` +
        'the VM stays where it runs (migrate it to separate them)'
    : undefined;
}

/** The resize part of a PUT (cpu, ram), to `to` (the new size, or for a rollback the old one); answers the VM
 * when it was started again (its ports need tagging). */
async function resizeOf(
  t: Variant<VmTask | VmRollback, 'vm PUT'>,
  d: Pick<ComputeContext, 'db' | 'catalogue' | 'hypervisor'>,
  to: { cpu?: number; ram?: number } = t.update_dict,
): Promise<VmRow | undefined> {
  if (t.update_dict.cpu === undefined && t.update_dict.ram === undefined) return undefined;
  const vm =
    (await vmByName(d, t.owner, t.update_dict.name ?? t.name)) ?? (await vmByName(d, t.owner, t.name));
  if (!vm) throw new Error(`vm ${t.owner}/${t.name} is not on any host`);
  const size = sizeOf(to.cpu ?? t.vm.cpu, to.ram ?? t.vm.ram);
  return (await resizeVm(d, vm, t.vm.template, size, t.vm.state === 'U')) ? vm : undefined;
}

async function remove(t: Variant<VmTask, 'vm DELETE'>, d: OnHosts): Promise<Outcome> {
  const vm = await destroyVm(d, await vmByName(d, t.owner, t.name));
  return {
    result: { status: 'successful', network_pending: !!vm },
    network: vm
      ? {
          ...followUp(t),
          method: 'DELETE',
          host: vm.host,
          interfaces: portsOf(vm.nics),
          public: publicPortOf(vm),
        }
      : undefined,
  };
}

/** Start, stop, reboot or force off; a VM that runs again gets its ports made again by the network service. */
async function power(
  t: Variant<VmTask, 'vm POWER'>,
  d: Pick<ComputeContext, 'db' | 'catalogue' | 'hypervisor' | 'log'>,
): Promise<Outcome> {
  const vm = await vmByName(d, t.owner, t.name);
  if (!vm) throw new Error(`vm ${t.owner}/${t.name} is not on any host`);
  const host = await hostOf(d, vm.host);
  const stopped = await applyPower(d, vm, host.libvirt_uri, t.action, t.timeout, t.task_id);
  if (stopped === 'forced' && t.action !== 'off')
    d.log.warn(
      { vm: `${t.owner}/${t.name}`, timeout: t.timeout },
      'the guest did not power off in time: forced off',
    );
  const running = stateAfter(t.action) === 'running';
  // libvirt makes a stopped domain's OVS ports anew when it starts: its private ports are untagged and its
  // public port (a new OpenFlow port) forwards nothing until the network service has done its part again.
  return {
    result: { status: 'successful', host: host.name, network_pending: running, state: running ? 'U' : 'D' },
    network: running
      ? {
          ...followUp(t),
          method: 'POST',
          host: host.name,
          interfaces: portsOf(vm.nics),
          public: publicPortOf(vm),
        }
      : undefined,
  };
}

const migrateSettings = (d: ComputeContext): MigrateSettings => ({
  timeoutSeconds: d.config.MIGRATE_TIMEOUT,
  downtimeMs: d.config.MIGRATE_DOWNTIME,
  bandwidthMib: 1024,
});

/** Progress results of task t: the controller moves its stage on. */
const progressOf = (t: VmTask, d: ComputeContext) => (stage: string) =>
  d.bus.publish(
    'vm_notification',
    {
      task_id: t.task_id,
      attempt: t.attempt,
      retries: t.retries,
      from: 'compute',
      status: 'progress',
      stage,
    },
    { requestId: t.request_id },
  );

/** A live migration; its percentage goes to the controller as progress results while it runs. */
async function migrate(t: Variant<VmTask, 'vm MIGRATE'>, d: ComputeContext): Promise<Outcome> {
  const { to, warning } = await migrateVm(d, t, migrateSettings(d), progressOf(t, d));
  return { result: { status: 'successful', host: to, ...(warning ? { warning } : {}) } };
}

async function drain(t: Variant<VmTask, 'host DRAIN'>, d: ComputeContext): Promise<Outcome> {
  const { warning } = await drainHost(d, t, migrateSettings(d), progressOf(t, d));
  return { result: { status: 'successful', ...(warning ? { warning } : {}) } };
}

export const vmTasks: HandlerTable<VmTask, ComputeContext, Outcome> = {
  'vm POST': create,
  'vm PUT': update,
  'vm DELETE': remove,
  'vm POWER': power,
  'vm MIGRATE': migrate,
  'vm SNAPSHOT': snapshotTask,
  'host DRAIN': drain,
  'host RESTORE': async (t, d) => (await restoreHost(d, t), { result: { status: 'successful' } }),
};

const rolledBack: Outcome = { result: { status: 'successful', rollback: true } };

/** A half-made VM goes entirely, and the ports (and public port rules) the network service may have made
 * (nobody waits for that). */
async function undoCreate(t: Variant<VmRollback, 'vm POST'>, d: OnHosts): Promise<Outcome> {
  const vm = await destroyVm(d, await vmByTask(d, t.task_id));
  return {
    ...rolledBack,
    network: vm
      ? {
          ...followUp(t),
          method: 'DELETE',
          host: vm.host,
          interfaces: portsOf(vm.nics),
          public: publicPortOf(vm),
          notify: false,
        }
      : undefined,
  };
}

/** A failed delete brings the VM back up when it still can. */
async function undoDelete(
  t: Variant<VmRollback, 'vm DELETE'>,
  d: Pick<ComputeContext, 'db' | 'catalogue' | 'hypervisor'>,
): Promise<Outcome> {
  const vm = await vmByName(d, t.owner, t.name);
  if (!vm)
    return {
      result: { status: 'failed', rollback: true, error: 'the VM was already removed from its host' },
    };
  const host = await d.catalogue.host(vm.host);
  if (host) await d.hypervisor.start(host.libvirt_uri, vm.domain);
  await d.db.updateTable('vms').set({ state: 'running' }).where('id', '=', vm.id).execute();
  // Started again, its public port is a new OpenFlow port: the network service installs its rules again.
  return {
    ...rolledBack,
    network: {
      ...followUp(t),
      method: 'POST',
      host: vm.host,
      interfaces: portsOf(vm.nics),
      public: publicPortOf(vm),
      notify: false,
    },
  };
}

/** A failed resize goes back to the old size (and state); the rest of a PUT changes nothing on the host. */
async function undoUpdate(
  t: Variant<VmRollback, 'vm PUT'>,
  d: Pick<ComputeContext, 'db' | 'catalogue' | 'hypervisor'>,
): Promise<Outcome> {
  const vm = await resizeOf(t, d, { cpu: t.vm.cpu, ram: t.vm.ram });
  if (t.update_dict.affinity_group !== undefined)
    await d.db
      .updateTable('vms')
      .set({ affinity_group: t.vm.affinity_group })
      .where('workspace', '=', t.owner)
      .where('name', 'in', [t.name, t.update_dict.name ?? t.name])
      .execute();
  return {
    ...rolledBack,
    network: vm
      ? {
          ...followUp(t),
          method: 'POST',
          host: vm.host,
          interfaces: portsOf(vm.nics),
          public: publicPortOf(vm),
          notify: false,
        }
      : undefined,
  };
}

/** A power task that failed for good changes nothing back: the record learns what the host reports. */
async function undoPower(
  t: Variant<VmRollback, 'vm POWER'>,
  d: Pick<ComputeContext, 'db' | 'catalogue' | 'hypervisor'>,
): Promise<Outcome> {
  const vm = await vmByName(d, t.owner, t.name);
  if (!vm) return { result: { status: 'failed', rollback: true, error: 'the VM is not on any host' } };
  const host = await d.catalogue.host(vm.host);
  const s = host ? await d.hypervisor.state(host.libvirt_uri, vm.domain) : undefined;
  if (s === undefined) return rolledBack;
  const running = s === 'running' || s === 'paused';
  await setRowState(d, vm, running ? 'running' : 'stopped');
  return { result: { ...rolledBack.result, state: running ? 'U' : 'D' } };
}

export const vmRollbacks: HandlerTable<VmRollback, ComputeContext, Outcome> = {
  'vm POST': undoCreate,
  'vm PUT': undoUpdate,
  'vm DELETE': undoDelete,
  'vm POWER': undoPower,
  // migrateVm leaves the VM running on exactly one host whatever happened: nothing to undo.
  'vm MIGRATE': async () => rolledBack,
  'vm SNAPSHOT': undoSnapshot,
  // A drain that could not move everything leaves the host in maintenance: the operator drains again or
  // restores it.
  'host DRAIN': async () => rolledBack,
  'host RESTORE': async () => rolledBack,
};
