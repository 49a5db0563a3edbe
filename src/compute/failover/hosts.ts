// Failover's host events. On `host_failure` {host, area} from monitoring: mark the host down, fence it
// (FENCE_COMMAND, when configured) while new hosts are chosen for its VMs and their domains are defined
// there, then start them. On `host_up` {host}: the host's stale copies of moved VMs are destroyed and
// undefined (never started), their old ports dropped, and the host is placeable again.
import type { Delivery } from '../../lib/bus/bus.ts';
import { QUEUES, type HostEvent } from '../../lib/contracts/messages.ts';
import { run } from '../../lib/exec.ts';
import type { ComputeContext } from '../context.ts';
import { portsTask } from './ports.ts';
import type { Relocation } from './placement.ts';
import type { Restarter } from './restart.ts';

/** Powers off a failed host, or at least the listed guests on it, before they are started elsewhere. */
export interface Fencer {
  fence(host: { name: string; address: string }, domains: string[]): Promise<void>;
}

/**
 * Runs `command <host> <address> <domain>...` (an IPMI/PDU fence agent, or the lab's `kloudak lab fence`).
 * The command's words, split at spaces, are the program and its first arguments: no shell reads them.
 */
export function createCommandFencer(command: string, timeoutMs = 60_000): Fencer {
  const [program = '', ...first] = command.trim().split(/\s+/);
  return {
    async fence(host, domains) {
      await run(program, [...first, host.name, host.address, ...domains], { timeoutMs });
    },
  };
}

export function hostEventHandlers(d: {
  db: ComputeContext['db'];
  bus: ComputeContext['bus'];
  catalogue: ComputeContext['catalogue'];
  hypervisor: ComputeContext['hypervisor'];
  log: ComputeContext['log'];
  fencer?: Fencer;
  relocation: Relocation;
  restarter: Pick<Restarter, 'restarting' | 'prepare'>;
  /** Failures being handled: a failover pass starts no VM until each has fenced its host. */
  fencing: Set<Promise<void>>;
  /** Runs a failover pass (relocate, restart) now. */
  tick(): Promise<void>;
}) {
  const { db, log } = d;

  async function onFailure(m: Delivery<HostEvent>): Promise<void> {
    const name = m.body.host;
    await d.catalogue
      .refresh()
      .catch((e) => log.warn({ err: e }, 'catalogue refresh failed; using the cached one'));
    const host = await d.catalogue.host(name);
    if (!host) {
      log.warn({ host: name }, 'host_failure for a host compute does not know');
      return;
    }
    // Held from before the host is marked down, so that no pass (the timer's, or another failure's) starts
    // its VMs before the fence: their old copies may still run and hold the disks.
    let fenced!: () => void;
    const gate = new Promise<void>((resolve) => (fenced = resolve));
    d.fencing.add(gate);
    try {
      await failOver(host);
    } finally {
      d.fencing.delete(gate);
      fenced();
    }
    await d.tick();
  }

  /** Marks the host down, fences it while its VMs get new hosts and are defined there (not started). */
  async function failOver(host: { name: string; address: string; area: string }): Promise<void> {
    const { name } = host;
    await db.updateTable('hosts').set({ up: false }).where('name', '=', name).execute();
    const vms = await db
      .selectFrom('vms')
      .select('domain')
      .where('host', '=', name)
      .where('state', 'in', ['running', 'restarting'])
      .execute();
    log.warn({ host: name, area: host.area, vms: vms.length }, 'host failed: restarting its VMs elsewhere');
    // Fencing runs while the new hosts are chosen and the domains defined there; only the starts wait for it.
    const fencing =
      d.fencer && vms.length
        ? d.fencer
            .fence(
              host,
              vms.map((v) => v.domain),
            )
            .then(
              () => log.warn({ host: name }, 'failed host fenced'),
              (e) =>
                log.warn(
                  { host: name, err: (e as Error).message },
                  'fencing failed: the lock manager still keeps a disk from being opened twice',
                ),
            )
        : Promise.resolve();
    try {
      await d.relocation.relocateAll();
      await Promise.all(
        (await d.restarter.restarting()).map((vm) =>
          d.restarter
            .prepare(vm)
            .catch((e) =>
              log.warn({ err: e, vm: vm.name }, 'defining the VM on its new host failed; will retry'),
            ),
        ),
      );
    } finally {
      await fencing;
    }
  }

  /** Read again just before a start: a task (a delete, a stop) may have taken the VM since the rows were read. */
  const stillRunningHere = async (id: number, host: string) => {
    const now = await db.selectFrom('vms').select(['state', 'host']).where('id', '=', id).executeTakeFirst();
    return now?.state === 'running' && now.host === host;
  };

  async function onUp(m: Delivery<HostEvent>): Promise<void> {
    const name = m.body.host;
    const host = await d.catalogue.host(name);
    if (!host) return;
    // Throws when the host cannot be read after all: the message comes back and we try again.
    const domains = (await d.hypervisor.list(host.libvirt_uri)).filter((x) => x.startsWith('kloudak-'));
    const rows = domains.length
      ? await db.selectFrom('vms').selectAll().where('domain', 'in', domains).execute()
      : [];
    for (const vm of rows) {
      if (vm.host !== name) {
        // A copy left behind by a move: destroyed and undefined here, never started.
        await d.hypervisor.destroy(host.libvirt_uri, vm.domain);
        await d.hypervisor.undefine(host.libvirt_uri, vm.domain);
        log.warn(
          { host: name, vm: `${vm.workspace}/${vm.name}`, now_on: vm.host },
          'stale copy of a moved VM destroyed',
        );
        // Its old ports' records and the public port's rules on this host go too.
        await d.bus.publish(QUEUES.network, portsTask(vm, name, 'DELETE'));
      } else if (
        vm.state === 'running' &&
        (await d.hypervisor.state(host.libvirt_uri, vm.domain)) !== 'running' &&
        (await stillRunningHere(vm.id, name))
      ) {
        // Still recorded here (it found no other host): it runs here again. Its public port is a new OpenFlow
        // port: the network service installs its rules again (until then the bridge drops what it sends).
        await d.hypervisor.start(host.libvirt_uri, vm.domain);
        await d.bus.publish(QUEUES.network, portsTask(vm, name, 'POST'));
        log.warn({ host: name, vm: `${vm.workspace}/${vm.name}` }, 'VM started again on its recovered host');
      }
    }
    await db.updateTable('hosts').set({ up: true }).where('name', '=', name).execute();
    log.warn({ host: name }, 'host up again');
    void d.tick();
  }

  return { onFailure, onUp };
}
