// The steps of a VM's life on a host: create (place, overlay disk, seed, define, start), delete, change its
// networks. Each step checks what is already there first, so running it again after a crash finishes the job
// instead of doing it twice.
import { posix } from 'node:path';
import { parseSubnet } from '../lib/ipv4.ts';
import type { Template } from '../lib/contracts/inventory.ts';
import type { VmCreateTask, VmUpdateTask } from '../lib/contracts/messages.ts';
import type { ComputeContext } from './context.ts';
import { devFor, domainName, domainXml, macFor, nicXml, requireVlans } from './domain.ts';
import type { NicRecord } from './schema.ts';
import { seedIso } from './seed.ts';
import { groupHosts, placeApart, sharedHostWarning, type GroupRef } from './affinity.ts';
import { poolFile, vmsDir } from './storage.ts';

export type VmRow = Awaited<ReturnType<typeof vmByTask>> & {};

export const vmByTask = (ctx: Pick<ComputeContext, 'db'>, taskId: string) =>
  ctx.db.selectFrom('vms').selectAll().where('task_id', '=', taskId).executeTakeFirst();
export const vmByName = (ctx: Pick<ComputeContext, 'db'>, ws: string, name: string) =>
  ctx.db
    .selectFrom('vms')
    .selectAll()
    .where('workspace', '=', ws)
    .where('name', '=', name)
    .executeTakeFirst();

/** How a template boots: straight into its kernel when it names one, else from its disk. */
export interface BootSpec {
  kernel?: string | null;
  initrd?: string | null;
  cmdline?: string | null;
}

/** A VM's files in its directory on the pool. */
const filesOf = (dir: string) => ({
  disk: posix.join(dir, 'disk.qcow2'),
  seed: posix.join(dir, 'seed.iso'),
  console: posix.join(dir, 'console.log'),
});

/** The VM's domain on `host`. Every path is on the shared pool, so any host of the area defines the same
 * domain (createVm first, the failover worker on another host later). */
export function vmDomainXml(
  vm: VmRow,
  host: { domain_type: string },
  poolPath: string,
  boot: BootSpec,
): string {
  return domainXml({
    name: vm.domain,
    uuid: vm.task_id,
    title: `${vm.workspace}/${vm.name}`,
    type: host.domain_type === 'kvm' ? 'kvm' : 'qemu',
    memoryMib: vm.memory_mib,
    vcpus: vm.vcpus,
    ...filesOf(vm.dir),
    kernel: boot.kernel ? poolFile(poolPath, boot.kernel) : null,
    initrd: boot.initrd ? poolFile(poolPath, boot.initrd) : null,
    cmdline: boot.cmdline,
    nics: vm.nics,
  });
}

/** Places the VM and records the placement before touching any host, so a redelivery reuses it. */
async function placeOnce(
  ctx: Pick<ComputeContext, 'db' | 'placement' | 'catalogue' | 'config' | 'groupLocks'>,
  t: VmCreateTask,
): Promise<VmRow> {
  const existing = await vmByTask(ctx, t.task_id);
  if (existing) return existing;
  const other = await vmByName(ctx, t.owner, t.name);
  if (other) throw new Error(`vm ${t.owner}/${t.name} still exists on ${other.host} (task ${other.task_id})`);
  const { template, area } = t;
  const memoryMib = Math.round(template.ram * 1024);
  const group = { workspace: t.owner, group: t.affinity_group ?? null };
  // The group's decision and the row that records it happen together: the next member sees this one's host.
  const locked = ctx.groupLocks ?? (<T>(_g: GroupRef, fn: () => Promise<T>) => fn());
  return locked(group, async () => {
    const spread = await placeApart(
      ctx.db,
      ctx.placement,
      { area: area.name, memoryMib, vcpus: template.cpu, domain: domainName(t.task_id) },
      group,
    );
    return recordPlacement(ctx, t, spread.host, memoryMib);
  });
}

async function recordPlacement(
  ctx: Pick<ComputeContext, 'db' | 'placement' | 'catalogue' | 'config'>,
  t: VmCreateTask,
  host: string,
  memoryMib: number,
): Promise<VmRow> {
  const { template, area } = t;
  const pool = await ctx.placement.pool({ area: area.name, sizeGib: template.disk });
  const poolRec = await ctx.catalogue.pool(pool);
  if (!poolRec) throw new Error(`pool ${pool} vanished from the catalogue`);
  const networks = t.networks;
  const nics: NicRecord[] = [
    { dev: devFor(t.task_id, 0), mac: macFor(t.task_id, 0), bridge: ctx.config.PUBLIC_BRIDGE },
    ...networks.map((n, i) => ({
      dev: devFor(t.task_id, i + 1),
      mac: macFor(t.task_id, i + 1),
      bridge: ctx.config.PRIVATE_BRIDGE,
      network: n.name,
      ip: n.ip ?? null,
      vlan: n.vlan ?? undefined,
    })),
  ];
  // Refused before anything is recorded or made: a private NIC is only ever plugged with its VLAN.
  requireVlans(nics);
  const domain = domainName(t.task_id);
  await ctx.db
    .insertInto('vms')
    .values({
      workspace: t.owner,
      name: t.name,
      task_id: t.task_id,
      domain,
      host,
      pool,
      dir: posix.join(vmsDir(poolRec.path), domain),
      ip: t.ip,
      memory_mib: memoryMib,
      vcpus: template.cpu,
      disk_gib: template.disk,
      nics: JSON.stringify(nics),
      state: 'creating',
      affinity_group: t.affinity_group ?? null,
    })
    .onConflict((oc) => oc.column('task_id').doNothing())
    .execute();
  return (await vmByTask(ctx, t.task_id))!;
}

export async function hostOf(ctx: Pick<ComputeContext, 'catalogue'>, name: string) {
  const h = await ctx.catalogue.host(name);
  if (!h) throw new Error(`host ${name} is not in the catalogue`);
  return h;
}

export async function createVm(
  ctx: Pick<
    ComputeContext,
    'db' | 'catalogue' | 'placement' | 'hypervisor' | 'storage' | 'config' | 'groupLocks'
  >,
  t: VmCreateTask,
) {
  const vm = await placeOnce(ctx, t);
  const host = await hostOf(ctx, vm.host);
  const pool = (await ctx.catalogue.pool(vm.pool))!;
  const template: Template = t.template;
  const { area } = t;
  const { disk, seed } = filesOf(vm.dir);
  // Every step is idempotent (an existing disk is kept, define replaces the same definition, starting a
  // running domain is done), so a redelivered create after a crash just runs them again.
  const prefix = parseSubnet(area.subnet)?.prefix ?? 24;
  const iso = seedIso({
    instanceId: t.task_id,
    hostname: t.name,
    password: t.password,
    runcmd: t.runcmd,
    sshKeys: t.ssh_keys,
    userData: t.user_data,
    nics: vm.nics.map((n, i) =>
      i === 0
        ? { mac: n.mac, addresses: [`${vm.ip}/${prefix}`], gateway: area.gateway }
        : { mac: n.mac, addresses: n.ip ? [n.ip] : [] },
    ),
  });
  await ctx.storage.prepareVolumes(host.address, {
    dir: vm.dir,
    base: poolFile(pool.path, template.image),
    disk,
    sizeGib: template.disk,
    seed,
    seedBytes: iso,
  });
  await ctx.hypervisor.define(host.libvirt_uri, vmDomainXml(vm, host, pool.path, template));
  await ctx.hypervisor.start(host.libvirt_uri, vm.domain);
  await ctx.db.updateTable('vms').set({ state: 'running' }).where('id', '=', vm.id).execute();
  return { vm, host, warning: await sharingWarning(ctx, vm) };
}

/** The task's warning when the VM shares its host with another VM of its anti-affinity group (read from the
 * records, so a redelivered create says it again). */
export async function sharingWarning(
  ctx: Pick<ComputeContext, 'db'>,
  vm: VmRow,
): Promise<string | undefined> {
  if (!vm.affinity_group) return undefined;
  const joins =
    (await groupHosts(ctx.db, { workspace: vm.workspace, group: vm.affinity_group, self: vm.id })).get(
      vm.host,
    ) ?? [];
  return joins.length ? sharedHostWarning(vm.affinity_group, { host: vm.host, joins }) : undefined;
}

/** Removes the domain, its disk and seed; answers the row as it was (undefined when there was none). */
export async function destroyVm(
  ctx: Pick<ComputeContext, 'db' | 'catalogue' | 'hypervisor' | 'storage'>,
  vm: VmRow | undefined,
) {
  if (!vm) return undefined;
  await ctx.db.updateTable('vms').set({ state: 'deleting' }).where('id', '=', vm.id).execute();
  const host = await hostOf(ctx, vm.host);
  const pool = await ctx.catalogue.pool(vm.pool);
  await ctx.hypervisor.destroy(host.libvirt_uri, vm.domain);
  await ctx.hypervisor.undefine(host.libvirt_uri, vm.domain);
  // A start that raced this delete (a recovered host's restart read the row before it said 'deleting')
  // leaves the domain running, transient after the undefine: it goes too, before its disk does.
  if ((await ctx.hypervisor.state(host.libvirt_uri, vm.domain)) !== undefined) {
    await ctx.hypervisor.destroy(host.libvirt_uri, vm.domain);
    await ctx.hypervisor.undefine(host.libvirt_uri, vm.domain);
  }
  if (pool) await ctx.storage.removeVmDir(host.address, pool.path, vm.dir);
  await ctx.db.deleteFrom('vms').where('id', '=', vm.id).execute();
  return vm;
}

/** Renames the record and adds or removes private NICs to match `networks_after`. */
export async function updateVm(
  ctx: Pick<ComputeContext, 'db' | 'catalogue' | 'hypervisor' | 'config'>,
  t: VmUpdateTask,
) {
  const vm = await vmByName(ctx, t.owner, t.name);
  if (!vm) throw new Error(`vm ${t.owner}/${t.name} is not on any host`);
  const host = await hostOf(ctx, vm.host);
  const u = t.update_dict;
  const after = t.networks_after;
  const added: NicRecord[] = [];
  const removed: NicRecord[] = [];
  let nics = vm.nics;
  let live = false;
  if (after) {
    const want = new Set(after.map((n) => n.name));
    for (const n of nics) if (n.network && !want.has(n.network)) removed.push(n);
    let next = Math.max(...nics.map((n) => Number(n.dev.split('n').pop()))) + 1;
    for (const n of after) {
      if (nics.some((x) => x.network === n.name)) continue;
      added.push({
        dev: devFor(vm.task_id, next),
        mac: macFor(vm.task_id, next),
        bridge: ctx.config.PRIVATE_BRIDGE,
        network: n.name,
        vlan: n.vlan ?? undefined,
      });
      next++;
    }
    // Hot-plugged NICs come with their tag too: checked before anything is detached or attached.
    requireVlans(added);
    const present = new Set((await ctx.hypervisor.interfaces(host.libvirt_uri, vm.domain)).map((i) => i.mac));
    // A stopped VM's definition changes alone; it has no live devices.
    live = (await ctx.hypervisor.state(host.libvirt_uri, vm.domain)) === 'running';
    for (const n of removed)
      if (present.has(n.mac)) await ctx.hypervisor.detachDevice(host.libvirt_uri, vm.domain, nicXml(n), live);
    for (const n of added)
      if (!present.has(n.mac))
        await ctx.hypervisor.attachDevice(host.libvirt_uri, vm.domain, nicXml(n), live);
    nics = [...nics.filter((n) => !removed.includes(n)), ...added];
  }
  await ctx.db
    .updateTable('vms')
    .set({
      name: u.name ?? vm.name,
      nics: JSON.stringify(nics),
      ...(u.affinity_group !== undefined ? { affinity_group: u.affinity_group } : {}),
    })
    .where('id', '=', vm.id)
    .execute();
  return { vm, host, added, removed, live };
}

export const portsOf = (nics: NicRecord[]) =>
  nics.filter((n) => n.network).map((n) => ({ dev: n.dev, mac: n.mac, network: n.network! }));

/** The VM's public NIC as the network service secures it: only this MAC with this IPv4 leaves the port. */
export const publicPortOf = (vm: Pick<VmRow, 'nics' | 'ip'>) => {
  const n = vm.nics.find((x) => !x.network);
  return n ? { dev: n.dev, mac: n.mac, ip: vm.ip } : undefined;
};
