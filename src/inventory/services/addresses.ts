// Addresses: the area allocator (a VM's address, and get_ip), giving addresses back, tying a VM's address to
// it, and the address of a VM's NIC on a network with a subnet.
//
// Nothing here serializes an area or a network: each address being taken is held by an advisory lock of its
// own until its transaction ends, and an allocation skips the addresses others hold (try-lock) instead of
// waiting for them, so concurrent creates in one area run side by side (their transactions can be long: a
// whole accept). The search starts at the area's next_ip, read without a lock; once an allocation had to walk
// far past it, next_ip moves on past the address taken, after the commit, in a statement of its own
// (followCursor): the area's row is never held by a long transaction and a refused request changes nothing.
import { formatIp, inSubnet, parseIp, parseSubnet } from '../../lib/ipv4.ts';
import { conflict, inputError, notFound, unavailable } from '../../lib/errors.ts';
import type { Repositories, Store } from '../repositories/index.ts';

/** An area as the allocator reads it. */
export interface AreaRow {
  id: number;
  name: string;
  subnet: string;
  gateway: string;
  next_ip: string;
}

/** A claim that keeps losing to commits is given up after this many tries (each one sees more taken). */
const MAX_TRIES = 20;

/**
 * Leases the area's next free address from its next_ip on (never network, gateway or broadcast), to the VM
 * when given (its ip set in the same statement) and tagged with the task. 409 naming `area` when none is
 * free. Runs in the caller's transaction; the lease is visible to others when it commits.
 */
export async function leaseAddress(
  tx: Pick<Repositories, 'leases'>,
  area: AreaRow,
  owner: { vmId: number | null; task: string | null },
): Promise<string> {
  const s = parseSubnet(area.subnet)!;
  const gateway = parseIp(area.gateway)!;
  const hint = parseIp(area.next_ip) ?? s.first;
  for (let i = 0; i < MAX_TRIES; i++) {
    const r = await tx.leases.claim({
      areaId: area.id,
      first: s.first,
      last: s.last,
      gateway,
      hint,
      vmId: owner.vmId,
      task: owner.task,
    });
    if (r.taken !== undefined) return formatIp(r.taken);
    if (r.candidate === undefined) throw conflict('area', `no free address left in area ${area.name}`);
  }
  throw unavailable(`area ${area.name}: no address could be taken after ${MAX_TRIES} tries; try again`);
}

/** A VM record with the area's next free address, leased to it (one statement per try). Answers its id and
 * address; 409 naming `area` when none is free. */
export async function insertVmWithAddress(
  tx: Pick<Repositories, 'vms'>,
  area: AreaRow,
  row: Omit<Parameters<Repositories['vms']['insertWithAddress']>[0], 'area_id'>,
): Promise<{ id: number; ip: string }> {
  const s = parseSubnet(area.subnet)!;
  const range = {
    first: s.first,
    last: s.last,
    gateway: parseIp(area.gateway)!,
    hint: parseIp(area.next_ip) ?? s.first,
  };
  for (let i = 0; i < MAX_TRIES; i++) {
    const r = await tx.vms.insertWithAddress({ ...row, area_id: area.id }, range);
    if (r.id !== undefined && r.ip !== undefined) return { id: r.id, ip: r.ip };
    if (r.candidate === undefined) throw conflict('area', `no free address left in area ${area.name}`);
  }
  throw unavailable(`area ${area.name}: no address could be taken after ${MAX_TRIES} tries; try again`);
}

/** next_ip moves on when an allocation went this far past it: between two moves, an allocation looks at the
 * addresses from next_ip on (one index probe each), and most allocations write nothing to the area. */
const FOLLOW_AFTER = 16;

/** After the lease committed: next_ip moves on past it when the search walked far from it, unless another
 * allocation moved it meanwhile (a statement of its own: the area's row is locked for that statement only). */
export async function followCursor(r: Pick<Repositories, 'areas'>, area: AreaRow, taken: string) {
  const s = parseSubnet(area.subnet)!;
  const ip = parseIp(taken)!;
  const hint = parseIp(area.next_ip) ?? s.first;
  const size = s.last - s.first + 1;
  if ((ip - hint + size) % size < FOLLOW_AFTER - 1) return;
  await r.areas.catchUp(area.id, area.next_ip, formatIp(ip + 1 > s.last ? s.first : ip + 1));
}

/** Hands out the next free address of the area (get_ip), each once. With a task, the address is the task's:
 * asking again answers the same one, and it can be released by task. */
export async function allocateIp(store: Store, areaName: string, task?: string): Promise<string> {
  const area = await store.areas.row(areaName);
  if (!area) throw notFound('area', `no area ${areaName}`);
  if (task) {
    const held = await store.leases.ofTask(area.id, task);
    if (held) return formatIp(Number(held.ip));
  }
  const ip = await store.transaction((tx) => leaseAddress(tx, area, { vmId: null, task: task ?? null }));
  await followCursor(store, area, ip);
  return ip;
}

/** Gives back the addresses a task took that no VM holds (the undo of an interrupted accept). */
export async function releaseTaskIps(
  r: Pick<Repositories, 'areas' | 'leases'>,
  areaName: string,
  task: string,
) {
  const area = await r.areas.idOf(areaName);
  if (!area) throw notFound('area', `no area ${areaName}`);
  return r.leases.releaseTask(area.id, task);
}

/** Gives back an address no VM holds (a VM's address goes back when its record is deleted). */
export async function releaseIp(r: Pick<Repositories, 'areas' | 'leases'>, areaName: string, ipText: string) {
  const ip = parseIp(ipText);
  if (ip === undefined) throw inputError('ip', 'not an IPv4 address');
  const area = await r.areas.idOf(areaName);
  if (!area) throw notFound('area', `no area ${areaName}`);
  return r.leases.release(area.id, ip);
}

/** Ties the VM's address to it: takes the area lease made by get_ip, or leases the address now. */
export async function attachLease(
  tx: Pick<Repositories, 'areas' | 'leases'>,
  vmId: number,
  areaId: number,
  ipText: string,
): Promise<void> {
  const ip = parseIp(ipText);
  const area = await tx.areas.byId(areaId);
  const s = parseSubnet(area.subnet)!;
  if (ip === undefined || !inSubnet(ip, s) || ipText === area.gateway)
    throw inputError('ip', `ip must be a host address of ${area.subnet}`);
  // An allocation taking this very address holds its lock: wait for it, then look.
  await tx.leases.lockAddress(areaId, ip);
  const lease = await tx.leases.lock(areaId, ip);
  if (lease && lease.vm_id !== null && lease.vm_id !== vmId)
    throw conflict('ip', `${ipText} is used by another VM`);
  if (lease) await tx.leases.giveTo(areaId, ip, vmId);
  // A concurrent VM may lease the same unleased address: its insert wins, ours does nothing and is a 409 on
  // ip (a bare insert would fail with a unique violation that the caller reports as a name conflict).
  else if (!(await tx.leases.insertIfFree(areaId, ip, vmId)))
    throw conflict('ip', `${ipText} is used by another VM`);
}

/**
 * Gives the VM a NIC on the network: on a network with a subnet, with the lowest free address (the first host
 * address stays free for a router interface, the conventional gateway; router interfaces' addresses are
 * skipped too). Answers the address (address/prefix), or null on a network without a subnet.
 */
export async function linkNic(
  tx: Pick<Repositories, 'networks' | 'vms'>,
  vmId: number,
  net: { id: number; subnet: string | null },
): Promise<string | null> {
  const s = net.subnet ? parseSubnet(net.subnet, 8) : undefined;
  if (!s) {
    await tx.vms.link(vmId, net.id, null);
    return null;
  }
  for (let i = 0; i < MAX_TRIES; i++) {
    const ip = await tx.networks.freeAddress(net.id, s.first + 1, s.last);
    if (ip === undefined) throw conflict('networks', `no free address left on network subnet ${net.subnet}`);
    // The lock is ours now: a commit that took the address before it is seen by this fresh look.
    const cidr = `${formatIp(ip)}/${s.prefix}`;
    if (await tx.vms.linkIfFree(vmId, net.id, cidr)) return cidr;
  }
  throw unavailable(`network subnet ${net.subnet}: no address could be taken; try again`);
}
