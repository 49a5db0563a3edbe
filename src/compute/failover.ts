// The fail worker (DESIGN "Reliability principles", book chapter 12 "Handling Host Failures"). On
// `host_failure` {host, area} from monitoring: mark the host down, fence it (FENCE_COMMAND, when configured),
// and move each of its VMs to another up host of the area chosen by placement: the same domain (name, uuid,
// MACs, disk, seed, console on the shared pool) defined and started there, the network service asked to tag
// its ports on the new host, inventory's record pointed at the new host, the workspace room told. On
// `host_up` {host}: the host's stale copies of moved VMs are destroyed and undefined (never started), its
// old ports dropped, and the host is placeable again.
//
// Safety: libvirt's lock manager (virtlockd, leases on the shared pool) refuses to start a domain whose disk
// a running domain holds, so in a split brain (the host cut off while its guests run) the restart waits,
// retried every few seconds, until the old copy is fenced or destroyed. A restart is a state in compute's
// record ('restarting' on the new host), so a crash or a redelivery resumes it instead of doing it twice.
import { randomUUID } from 'node:crypto';
import type { Consumer, Delivery } from '../lib/bus/bus.ts';
import { QUEUES, type HostEvent } from '../lib/contracts/messages.ts';
import { notFound } from '../lib/errors.ts';
import { run } from '../lib/exec.ts';
import type { InventoryClient } from '../lib/clients/inventory.ts';
import { createNotifier, type Notifier } from '../lib/notify.ts';
import type { ComputeContext } from './context.ts';
import { portsOf, vmDomainXml, type BootSpec, type VmRow } from './vms.ts';

type HostRow = NonNullable<Awaited<ReturnType<ComputeContext['catalogue']['host']>>>;

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

export interface FailoverOptions {
  ctx: ComputeContext;
  inventory: Pick<InventoryClient, 'vms'>;
  /** The service token, for the room notifications. */
  token: () => Promise<string>;
  /** Rooms are told about moves when set (best effort). */
  notificationUrl?: string;
  fencer?: Fencer;
  /** Seconds between attempts to restart VMs still waiting (a held disk lease, no room yet). */
  retrySeconds?: number;
}

export interface Failover {
  /** One pass: relocate VMs of down hosts, (re)start VMs marked restarting. */
  tick(): Promise<void>;
  stop(): Promise<void>;
}

const LOCKED = /resource busy|is locked|Failed to get "write" lock|Failed to acquire lock/i;

export async function startFailover(o: FailoverOptions): Promise<Failover> {
  const { ctx } = o;
  const log = ctx.log.child({ worker: 'failover' });
  const notifier: Notifier | undefined = o.notificationUrl
    ? createNotifier({ url: o.notificationUrl, token: o.token, log, timeoutMs: 3000, retries: 1 })
    : undefined;
  const templates = new Map<string, BootSpec>();
  const movedFrom = new Map<number, string>();
  const lastWarn = new Map<string, number>();
  const warnOnce = (key: string, obj: Record<string, unknown>, msg: string) => {
    if (Date.now() - (lastWarn.get(key) ?? 0) < 60_000) return;
    lastWarn.set(key, Date.now());
    log.warn(obj, msg);
  };

  async function templateOf(vm: VmRow): Promise<BootSpec> {
    const cached = templates.get(vm.task_id);
    if (cached) return cached;
    const name = (await o.inventory.vms.get(vm.workspace, vm.name))?.template;
    const row = name
      ? await ctx.db.selectFrom('templates').select('spec').where('name', '=', name).executeTakeFirst()
      : undefined;
    if (!row)
      throw new Error(`template ${name ?? '?'} of vm ${vm.workspace}/${vm.name} is not in the catalogue`);
    const spec = row.spec as BootSpec;
    templates.set(vm.task_id, spec);
    return spec;
  }

  /** The VM's domain XML for `host`: what createVm defined, rebuilt from the record (all paths on the pool). */
  async function xmlFor(vm: VmRow, host: HostRow): Promise<string> {
    const pool = await ctx.catalogue.pool(vm.pool);
    if (!pool) throw new Error(`pool ${vm.pool} is not in the catalogue`);
    return vmDomainXml(vm, host, pool.path, await templateOf(vm));
  }

  const downHosts = async () => ctx.db.selectFrom('hosts').selectAll().where('up', '=', false).execute();

  /** Claims a new host for one VM of a down host (a conditional update: one compute process wins). */
  async function relocate(vm: VmRow, area: string, down: string[]): Promise<void> {
    let target: string;
    try {
      target = await ctx.placement.host({ area, memoryMib: vm.memory_mib, vcpus: vm.vcpus, exclude: down });
    } catch (e) {
      warnOnce(
        `place ${vm.id}`,
        { vm: `${vm.workspace}/${vm.name}`, err: (e as Error).message },
        'no host to restart the VM on yet; will retry',
      );
      return;
    }
    const claimed = await ctx.db
      .updateTable('vms')
      .set({ host: target, state: 'restarting' })
      .where('id', '=', vm.id)
      .where('host', '=', vm.host)
      .where('state', '=', vm.state)
      .executeTakeFirst();
    if (!claimed.numUpdatedRows) return;
    movedFrom.set(vm.id, vm.host);
    log.warn(
      { vm: `${vm.workspace}/${vm.name}`, from: vm.host, to: target },
      'restarting the VM of a failed host on another host',
    );
  }

  async function relocateAll(): Promise<void> {
    const down = await downHosts();
    if (!down.length) return;
    const downNames = down.map((h) => h.name);
    const vms = await ctx.db
      .selectFrom('vms')
      .selectAll()
      .where('host', 'in', downNames)
      .where('state', 'in', ['running', 'restarting'])
      .orderBy('id')
      .execute();
    for (const vm of vms) await relocate(vm, down.find((h) => h.name === vm.host)!.area, downNames);
  }

  /** Defines a 'restarting' VM on its new host (not started): done while the failed host is being fenced. */
  async function prepare(
    vm: VmRow,
  ): Promise<{ host: HostRow; state: Awaited<ReturnType<typeof ctx.hypervisor.state>> }> {
    const host = await ctx.catalogue.host(vm.host);
    if (!host) throw new Error(`host ${vm.host} is not in the catalogue`);
    let state = await ctx.hypervisor.state(host.libvirt_uri, vm.domain);
    if (state === undefined) {
      await ctx.hypervisor.define(host.libvirt_uri, await xmlFor(vm, host));
      state = 'shut off';
    }
    return { host, state };
  }

  /** Brings one 'restarting' VM up on its (new) host; idempotent, so a retry resumes where it stopped. */
  async function restart(vm: VmRow): Promise<void> {
    const { host, state } = await prepare(vm);
    if (state !== 'running') await ctx.hypervisor.start(host.libvirt_uri, vm.domain);
    const ports = portsOf(vm.nics);
    if (ports.length)
      await ctx.bus.publish(QUEUES.network, {
        task_id: `failover-${vm.task_id}-${randomUUID()}`,
        type: 'vm',
        method: 'POST',
        owner: vm.workspace,
        name: vm.name,
        retries: 0,
        attempt: 1,
        host: host.name,
        interfaces: ports,
        // Nobody waits for this result: the controller has no task for it.
        notify: false,
      });
    if (!(await o.inventory.vms.update(vm.workspace, vm.name, { host: host.name })))
      throw notFound('name', `inventory has no vm ${vm.workspace}/${vm.name}`);
    await ctx.db
      .updateTable('vms')
      .set({ state: 'running' })
      .where('id', '=', vm.id)
      .where('state', '=', 'restarting')
      .where('host', '=', vm.host)
      .execute();
    const from = movedFrom.get(vm.id);
    movedFrom.delete(vm.id);
    log.warn(
      { vm: `${vm.workspace}/${vm.name}`, host: host.name, from },
      'VM restarted after its host failed',
    );
    if (notifier)
      await notifier
        .send(vm.workspace, {
          kind: 'vm_moved',
          workspace: vm.workspace,
          name: vm.name,
          host: host.name,
          from: from ?? null,
          reason: 'host failure',
        })
        .catch((e) => log.warn({ err: e }, 'room notification failed'));
  }

  const restarting = () =>
    ctx.db
      .selectFrom('vms')
      .innerJoin('hosts', 'hosts.name', 'vms.host')
      .selectAll('vms')
      .where('vms.state', '=', 'restarting')
      .where('hosts.up', '=', true)
      .orderBy('vms.id')
      .execute();

  async function restartAll(): Promise<void> {
    const vms = await restarting();
    await Promise.all(
      vms.map((vm) =>
        restart(vm).catch((e) => {
          const msg = (e as Error).message;
          warnOnce(
            `start ${vm.id}`,
            { vm: `${vm.workspace}/${vm.name}`, host: vm.host, err: msg },
            LOCKED.test(msg)
              ? 'the disk is still held by the old copy (lock manager): waiting for it to be fenced or destroyed'
              : 'VM restart failed; will retry',
          );
        }),
      ),
    );
  }

  let busy: Promise<void> | undefined;
  let pending = false;
  const tick = (): Promise<void> => {
    if (busy) {
      pending = true;
      return busy;
    }
    busy = (async () => {
      do {
        pending = false;
        try {
          await relocateAll();
          await restartAll();
        } catch (e) {
          log.warn({ err: e }, 'failover pass failed');
        }
      } while (pending);
    })().finally(() => (busy = undefined));
    return busy;
  };

  async function onFailure(d: Delivery<HostEvent>): Promise<void> {
    const name = d.body.host;
    await ctx.catalogue
      .refresh()
      .catch((e) => log.warn({ err: e }, 'catalogue refresh failed; using the cached one'));
    const host = await ctx.catalogue.host(name);
    if (!host) {
      log.warn({ host: name }, 'host_failure for a host compute does not know');
      return;
    }
    await ctx.db.updateTable('hosts').set({ up: false }).where('name', '=', name).execute();
    const vms = await ctx.db
      .selectFrom('vms')
      .select('domain')
      .where('host', '=', name)
      .where('state', 'in', ['running', 'restarting'])
      .execute();
    log.warn({ host: name, area: host.area, vms: vms.length }, 'host failed: restarting its VMs elsewhere');
    // Fencing runs while the new hosts are chosen and the domains defined there; only the starts wait for it.
    const fencing =
      o.fencer && vms.length
        ? o.fencer
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
      await relocateAll();
      await Promise.all(
        (await restarting()).map((vm) =>
          prepare(vm).catch((e) =>
            log.warn({ err: e, vm: vm.name }, 'defining the VM on its new host failed; will retry'),
          ),
        ),
      );
    } finally {
      await fencing;
    }
    await tick();
  }

  async function onUp(d: Delivery<HostEvent>): Promise<void> {
    const name = d.body.host;
    const host = await ctx.catalogue.host(name);
    if (!host) return;
    // Throws when the host cannot be read after all: the message comes back and we try again.
    const domains = (await ctx.hypervisor.list(host.libvirt_uri)).filter((x) => x.startsWith('kloudak-'));
    const rows = domains.length
      ? await ctx.db.selectFrom('vms').selectAll().where('domain', 'in', domains).execute()
      : [];
    for (const vm of rows) {
      if (vm.host !== name) {
        // A copy left behind by a move: destroyed and undefined here, never started.
        await ctx.hypervisor.destroy(host.libvirt_uri, vm.domain);
        await ctx.hypervisor.undefine(host.libvirt_uri, vm.domain);
        log.warn(
          { host: name, vm: `${vm.workspace}/${vm.name}`, now_on: vm.host },
          'stale copy of a moved VM destroyed',
        );
        const ports = portsOf(vm.nics);
        if (ports.length)
          await ctx.bus.publish(QUEUES.network, {
            task_id: `failover-drop-${vm.task_id}-${randomUUID()}`,
            type: 'vm',
            method: 'DELETE',
            owner: vm.workspace,
            name: vm.name,
            retries: 0,
            attempt: 1,
            host: name,
            interfaces: ports,
            notify: false,
          });
      } else if (
        vm.state === 'running' &&
        (await ctx.hypervisor.state(host.libvirt_uri, vm.domain)) !== 'running'
      ) {
        // Still recorded here (it found no other host): it runs here again.
        await ctx.hypervisor.start(host.libvirt_uri, vm.domain);
        log.warn({ host: name, vm: `${vm.workspace}/${vm.name}` }, 'VM started again on its recovered host');
      }
    }
    await ctx.db.updateTable('hosts').set({ up: true }).where('name', '=', name).execute();
    log.warn({ host: name }, 'host up again');
    void tick();
  }

  const consumers: Consumer[] = [
    await ctx.bus.consume(QUEUES.hostFailure, onFailure, { prefetch: 1 }),
    await ctx.bus.consume(QUEUES.hostUp, onUp, { prefetch: 1 }),
  ];
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const loop = () => {
    timer = setTimeout(
      () => {
        void tick().finally(() => {
          if (!stopped) loop();
        });
      },
      (o.retrySeconds ?? 3) * 1000,
    );
  };
  loop();
  return {
    tick,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      for (const c of consumers) await c.cancel();
      await busy;
      await notifier?.close();
    },
  };
}
