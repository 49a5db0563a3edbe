// Addresses: the area allocator (get_ip), giving addresses back, tying a VM's address to it, and the address
// of a VM's NIC on a network with a subnet. Each runs in the transaction of its caller or its own.
import { formatIp, inSubnet, parseIp, parseSubnet } from '../../lib/ipv4.ts';
import { conflict, inputError, notFound } from '../../lib/errors.ts';
import type { Repositories, Store } from '../repositories/index.ts';

/** Hands out the next free address of the area (never network, gateway or broadcast), each once. With a
 * task, the address is the task's: asking again answers the same one, and it can be released by task. */
export async function allocateIp(store: Store, areaName: string, task?: string): Promise<string> {
  return store.transaction(async (tx) => {
    const area = await tx.areas.lock(areaName);
    if (!area) throw notFound('area', `no area ${areaName}`);
    if (task) {
      const held = await tx.leases.ofTask(area.id, task);
      if (held) return formatIp(Number(held.ip));
    }
    const s = parseSubnet(area.subnet)!;
    const gw = parseIp(area.gateway)!;
    const next = parseIp(area.next_ip) ?? s.first;
    const take = async (ip: number) => {
      await tx.leases.insert({ area_id: area.id, ip, vm_id: null, task: task ?? null });
      await tx.areas.setNextIp(area.id, formatIp(ip >= s.last ? s.first : ip + 1));
      return formatIp(ip);
    };
    // Usually the address after the last one handed out is free: look there first (an index range read),
    // and scan the whole subnet only when that window is full.
    const window = Math.min(next + 63, s.last);
    const taken = await tx.leases.takenBetween(area.id, next, window);
    for (let ip = next; ip <= window; ip++) if (ip !== gw && !taken.has(ip)) return take(ip);
    const ip = await tx.leases.firstFree(area.id, s, gw, next);
    if (ip === undefined) throw conflict('area', `no free address left in area ${areaName}`);
    return take(ip);
  });
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
 * The address of a VM's NIC on a network with a subnet: the lowest free one. The first host address stays
 * free for a router interface (the conventional gateway); router interfaces' addresses are skipped too.
 */
export async function nicAddress(
  tx: Pick<Repositories, 'networks'>,
  net: { id: number; subnet: string | null },
): Promise<string | null> {
  const s = net.subnet ? parseSubnet(net.subnet, 8) : undefined;
  if (!s) return null;
  await tx.networks.lock(net.id);
  const used = new Set((await tx.networks.usedIps(net.id)).map((r) => r.ip?.split('/')[0]));
  for (let ip = s.first + 1; ip <= s.last; ip++)
    if (!used.has(formatIp(ip))) return `${formatIp(ip)}/${s.prefix}`;
  throw conflict('networks', `no free address left on network subnet ${net.subnet}`);
}
