// Failover's restart loop: a VM marked 'restarting' is defined on its new host (the same domain: name, uuid,
// MACs, disk, seed and console on the shared pool; private NICs tagged with their VLANs in the XML), started,
// its ports recorded and its public port's anti-spoofing rules installed there by the network service, and
// inventory's record pointed at the new host. Idempotent, so a retry resumes where it stopped.
import type { InventoryClient } from '../../lib/clients/inventory.ts';
import { QUEUES } from '../../lib/contracts/messages.ts';
import { notFound } from '../../lib/errors.ts';
import type { ComputeContext } from '../context.ts';
import { isVlan } from '../domain.ts';
import { adoptSnapshots } from '../snapshots.ts';
import { vmDomainXml, type BootSpec, type VmRow } from '../vms.ts';
import { portsTask } from './ports.ts';
import type { Notices } from './notices.ts';

type HostRow = NonNullable<Awaited<ReturnType<ComputeContext['catalogue']['host']>>>;

const LOCKED = /resource busy|is locked|Failed to get "write" lock|Failed to acquire lock/i;

export interface Restarter {
  /** The VMs marked restarting whose (new) host is up. */
  restarting(): Promise<VmRow[]>;
  /** Defines a restarting VM on its new host (not started): done while the failed host is being fenced. */
  prepare(vm: VmRow): Promise<unknown>;
  /** Brings every restarting VM up on its new host; one that cannot start yet waits for the next pass. */
  restartAll(): Promise<void>;
}

export function createRestarter(d: {
  db: ComputeContext['db'];
  bus: ComputeContext['bus'];
  catalogue: ComputeContext['catalogue'];
  hypervisor: ComputeContext['hypervisor'];
  storage: ComputeContext['storage'];
  snapshotMetadata: ComputeContext['snapshotMetadata'];
  inventory: Pick<InventoryClient, 'vms' | 'networks'>;
  log: ComputeContext['log'];
  notices: Notices;
  /** Where each moved VM came from (for its notice). */
  movedFrom: Map<number, string>;
}): Restarter {
  const { db, log } = d;
  const templates = new Map<string, BootSpec>();

  async function templateOf(vm: VmRow): Promise<BootSpec> {
    const cached = templates.get(vm.task_id);
    if (cached) return cached;
    const name = (await d.inventory.vms.get(vm.workspace, vm.name))?.template;
    const row = name
      ? await db.selectFrom('templates').select('spec').where('name', '=', name).executeTakeFirst()
      : undefined;
    if (!row)
      throw new Error(`template ${name ?? '?'} of vm ${vm.workspace}/${vm.name} is not in the catalogue`);
    const spec: BootSpec = row.spec;
    templates.set(vm.task_id, spec);
    return spec;
  }

  /** A record made before NICs carried their VLAN learns it from the network's record in inventory. */
  async function withVlans(vm: VmRow): Promise<VmRow> {
    if (vm.nics.every((n) => !n.network || isVlan(n.vlan))) return vm;
    const nics = [];
    for (const n of vm.nics) {
      if (!n.network || isVlan(n.vlan)) {
        nics.push(n);
        continue;
      }
      const net = await d.inventory.networks.get(vm.workspace, n.network);
      nics.push({ ...n, vlan: net?.vlan ?? undefined });
    }
    await db
      .updateTable('vms')
      .set({ nics: JSON.stringify(nics) })
      .where('id', '=', vm.id)
      .execute();
    return { ...vm, nics };
  }

  /** The VM's domain XML for `host`: what createVm defined, rebuilt from the record (all paths on the pool),
   * private NICs tagged with their VLANs (the XML refuses a private NIC without one). */
  async function xmlFor(vm: VmRow, host: HostRow): Promise<string> {
    const pool = await d.catalogue.pool(vm.pool);
    if (!pool) throw new Error(`pool ${vm.pool} is not in the catalogue`);
    return vmDomainXml(await withVlans(vm), host, pool.path, await templateOf(vm));
  }

  async function prepare(
    vm: VmRow,
  ): Promise<{ host: HostRow; state: Awaited<ReturnType<typeof d.hypervisor.state>> }> {
    const host = await d.catalogue.host(vm.host);
    if (!host) throw new Error(`host ${vm.host} is not in the catalogue`);
    let state = await d.hypervisor.state(host.libvirt_uri, vm.domain);
    if (state === undefined) {
      await d.hypervisor.define(host.libvirt_uri, await xmlFor(vm, host));
      state = 'shut off';
    }
    // The snapshots' data came with the disk; libvirt here learns them from the XML saved beside it.
    await adoptSnapshots(d, vm, host);
    return { host, state };
  }

  /** Brings one 'restarting' VM up on its (new) host; idempotent, so a retry resumes where it stopped. */
  async function restart(vm: VmRow): Promise<void> {
    const { host, state } = await prepare(vm);
    if (state !== 'running') await d.hypervisor.start(host.libvirt_uri, vm.domain);
    // The network service records the ports on the new host and installs the public port's anti-spoofing
    // rules there (the private ports are tagged already: the domain XML carries their VLANs).
    await d.bus.publish(QUEUES.network, portsTask(vm, host.name, 'POST'));
    if (!(await d.inventory.vms.update(vm.workspace, vm.name, { host: host.name })))
      throw notFound('name', `inventory has no vm ${vm.workspace}/${vm.name}`);
    await db
      .updateTable('vms')
      .set({ state: 'running' })
      .where('id', '=', vm.id)
      .where('state', '=', 'restarting')
      .where('host', '=', vm.host)
      .execute();
    const from = d.movedFrom.get(vm.id);
    d.movedFrom.delete(vm.id);
    log.warn(
      { vm: `${vm.workspace}/${vm.name}`, host: host.name, from },
      'VM restarted after its host failed',
    );
    await d.notices.moved(vm, host.name, from);
  }

  const restarting = () =>
    db
      .selectFrom('vms')
      .innerJoin('hosts', 'hosts.name', 'vms.host')
      .selectAll('vms')
      .where('vms.state', '=', 'restarting')
      .where('hosts.up', '=', true)
      .orderBy('vms.id')
      .execute();

  return {
    restarting,
    prepare,
    async restartAll() {
      const vms = await restarting();
      await Promise.all(
        vms.map((vm) =>
          restart(vm).catch((e) => {
            const msg = (e as Error).message;
            d.notices.warnOnce(
              `start ${vm.id}`,
              { vm: `${vm.workspace}/${vm.name}`, host: vm.host, err: msg },
              LOCKED.test(msg)
                ? 'the disk is still held by the old copy (lock manager): waiting for it to be fenced or destroyed'
                : 'VM restart failed; will retry',
            );
          }),
        ),
      );
    },
  };
}
