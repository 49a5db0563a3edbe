// Security groups on the hosts' public bridge (issue 17): stateful per-port rules in the tables port security
// leaves for them (docs/security.md "OpenFlow layout"). Each VM port has its own conntrack zone (its OpenFlow
// port number: unique on a host's bridge), so a frame between two VMs of one host is tracked once for the
// sender's egress and once for the receiver's ingress.
//   10 a VM's IPv4 goes through conntrack in its zone, on to 11
//   11 egress: replies (+est, +rel) pass; a new connection a rule allows is committed and passes; else drop
//   20 IPv4 to a VM's MAC goes through conntrack in the VM's zone, on to 21
//   21 ingress: the same, with the rules of the other direction
// A VM in no group has no rules in 11 and 21 but the drops: it sends and receives no IPv4 (ARP still passes,
// so its neighbours can resolve it). The rules carry the port's cookie: they are replaced and removed with
// its port security rules, in one bundle, and follow the port record from host to host.
import { formatIp } from '../lib/ipv4.ts';
import { parseCidr, type SecurityGroup, type SgRule } from '../lib/contracts/secgroups.ts';
import { BASE_COOKIE, portCookie, TABLE } from './portsecurity.ts';

export const SG_TABLE = { egressCt: 11, ingressCt: 21 } as const;
/** Private ports' conntrack zones: above the public ports' (both bridges of a host share one datapath). */
const PRIVATE_ZONE = 0x8000;
const PRIORITY = { track: 100, established: 200, allow: 100, drop: 10 } as const;

/** A workspace's groups and who is in them, as the rules need them. */
export interface Policy {
  /** The groups a VM's NICs belong to. */
  groupsOf(vm: string): string[];
  rulesOf(group: string): SgRule[];
  /** The public IPv4 addresses of a group's members (for remote_group). */
  addressesOf(group: string): string[];
  /** Networks whose pings reach every VM (monitoring's confirmation of a silent host, SG_PROBE_SOURCES). */
  probeSources: string[];
}

/** SG_PROBE_SOURCES as networks a.b.c.d/p; a bad entry stops the service at start (config is read once). */
export function parseProbeSources(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const c = parseCidr(s.includes('/') ? s : `${s}/32`);
      if (!c) throw new Error(`SG_PROBE_SOURCES: ${JSON.stringify(s)} is not an IPv4 address or network`);
      return `${formatIp(c.network)}/${c.prefix}`;
    });
}

export interface PolicySource {
  groups(workspace: string): Promise<SecurityGroup[]>;
  vms(workspace: string): Promise<
    {
      name: string;
      ip: string | null;
      state: string;
      security_groups: string[];
      interfaces: { ip: string | null }[];
    }[]
  >;
}

/** The workspace's policy as inventory has it; `override` replaces one group's rules (a rollback's). */
export async function loadPolicy(
  source: PolicySource,
  workspace: string,
  override?: { group: string; rules: SgRule[] },
  probeSources: string[] = [],
): Promise<Policy> {
  const [groups, vms] = await Promise.all([source.groups(workspace), source.vms(workspace)]);
  const rules = new Map(groups.map((g) => [g.name, g.rules]));
  if (override) rules.set(override.group, override.rules);
  const members = new Map<string, string[]>();
  // A VM being deleted is no member any more: its address may soon be another workspace's.
  for (const v of vms.filter((v) => v.state !== 'X'))
    for (const g of v.security_groups) {
      // Its public address and its private NICs' (address/prefix): a rule holds on either bridge.
      const ips = [v.ip, ...v.interfaces.map((i) => i.ip?.split('/')[0] ?? null)].filter(
        (ip): ip is string => !!ip,
      );
      members.set(g, [...(members.get(g) ?? []), ...ips]);
    }
  const byVm = new Map(vms.map((v) => [v.name, v.security_groups]));
  return {
    groupsOf: (vm) => byVm.get(vm) ?? [],
    rulesOf: (g) => rules.get(g) ?? [],
    addressesOf: (g) => [...new Set(members.get(g) ?? [])].sort(),
    probeSources,
  };
}

/** tp_dst value/mask pairs covering [min, max] exactly (OpenFlow matches ports by mask, not by range). */
export function portMasks(min: number, max: number): string[] {
  const out: string[] = [];
  let lo = min;
  while (lo <= max) {
    let size = 1;
    // The largest aligned block starting at lo that still fits under max.
    while (lo % (size * 2) === 0 && lo + size * 2 - 1 <= max && size < 0x10000) size *= 2;
    out.push(
      size === 1 ? `${lo}` : `0x${lo.toString(16).padStart(4, '0')}/0x${(0x10000 - size).toString(16)}`,
    );
    lo += size;
  }
  return out;
}

/** The match of one rule, as one or more match strings (port masks, member addresses). */
function matchesOf(r: SgRule, policy: Policy): string[] {
  const proto = r.protocol === 'any' ? 'ip' : r.protocol;
  const lo = r.port_min ?? r.port_max;
  const hi = r.port_max ?? r.port_min;
  const ports =
    (r.protocol === 'tcp' || r.protocol === 'udp') &&
    lo !== undefined &&
    hi !== undefined &&
    !(lo <= 1 && hi >= 65535)
      ? portMasks(lo, hi).map((m) => `tp_dst=${m}`)
      : [''];
  const field = r.direction === 'ingress' ? 'nw_src' : 'nw_dst';
  let remotes: string[];
  if (r.remote_group !== undefined)
    remotes = policy.addressesOf(r.remote_group).map((ip) => `${field}=${ip}`);
  else {
    const c = r.remote_cidr ? parseCidr(r.remote_cidr) : undefined;
    remotes = !c || c.prefix === 0 ? [''] : [`${field}=${formatIp(c.network)}/${c.prefix}`];
  }
  return remotes.flatMap((remote) => ports.map((p) => [proto, remote, p].filter(Boolean).join(',')));
}

/** A VM port's security group rules (without a delete line: they go in the same bundle as its port security). */
export function groupFlows(
  p: { dev: string; mac: string; vm: string },
  ofport: number,
  policy: Policy,
  zone = ofport,
): string[] {
  const c = `cookie=0x${portCookie(p.dev)}`;
  const mac = p.mac.toLowerCase();
  const rules = policy.groupsOf(p.vm).flatMap((g) => policy.rulesOf(g));
  const dir = (direction: SgRule['direction'], table: number, next: number, who: string) => [
    `table=${table},priority=${PRIORITY.established},${c},${who},ct_state=+trk+est,ip,actions=resubmit(,${next})`,
    `table=${table},priority=${PRIORITY.established},${c},${who},ct_state=+trk+rel,ip,actions=resubmit(,${next})`,
    ...[...new Set(rules.filter((r) => r.direction === direction).flatMap((r) => matchesOf(r, policy)))].map(
      (m) =>
        `table=${table},priority=${PRIORITY.allow},${c},${who},ct_state=+trk+new,${m},actions=ct(commit,zone=${zone}),resubmit(,${next})`,
    ),
    `table=${table},priority=${PRIORITY.drop},${c},${who},actions=drop`,
  ];
  return [
    `table=${TABLE.egress},priority=${PRIORITY.track},${c},in_port=${ofport},ip,actions=ct(table=${SG_TABLE.egressCt},zone=${zone})`,
    ...dir('egress', SG_TABLE.egressCt, TABLE.ingress, `in_port=${ofport}`),
    `table=${TABLE.ingress},priority=${PRIORITY.track},${c},dl_dst=${mac},ip,actions=ct(table=${SG_TABLE.ingressCt},zone=${zone})`,
    ...dir('ingress', SG_TABLE.ingressCt, TABLE.forward, `dl_dst=${mac}`),
    ...policy.probeSources.map(
      (src) =>
        `table=${SG_TABLE.ingressCt},priority=${PRIORITY.allow},${c},dl_dst=${mac},ct_state=+trk+new,icmp,icmp_type=8,nw_src=${src},actions=ct(commit,zone=${zone}),resubmit(,${TABLE.forward})`,
    ),
  ];
}

/** The private bridge's own rules (tables after OVS's NORMAL rule of table 0): a frame sent to table 10 goes on
 * to 20, then 30, then NORMAL, which applies the VLAN tags as before. */
export function privateBaselineFlows(): string[] {
  const c = `cookie=0x${BASE_COOKIE}`;
  return [
    `delete cookie=0x${BASE_COOKIE}/-1`,
    `table=${TABLE.egress},priority=0,${c},actions=resubmit(,${TABLE.ingress})`,
    `table=${TABLE.ingress},priority=0,${c},actions=resubmit(,${TABLE.forward})`,
    `table=${TABLE.forward},priority=0,${c},actions=NORMAL`,
  ];
}

/** A private NIC's rules (issue 17): its IPv4 goes through the group tables; so does IPv4 to its MAC, from any
 * port (VMs, routers, the trunk). Everything else keeps OVS's NORMAL rule (tags, MAC learning). Rules left on
 * its OpenFlow port number by a port that went are removed in the same bundle. */
export function privatePortFlows(
  p: { dev: string; mac: string; vm: string },
  ofport: number,
  policy: Policy,
) {
  if (!Number.isInteger(ofport) || ofport < 1 || ofport >= PRIVATE_ZONE)
    throw new Error(`bad OpenFlow port ${ofport}`);
  const mac = p.mac.toLowerCase();
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(mac))
    throw new Error(`bad MAC ${JSON.stringify(p.mac)} for ${p.dev}`);
  const c = `cookie=0x${portCookie(p.dev)}`;
  return [
    `delete cookie=0x${portCookie(p.dev)}/-1`,
    `delete in_port=${ofport}`,
    `table=${TABLE.classify},priority=100,${c},in_port=${ofport},ip,actions=resubmit(,${TABLE.egress})`,
    `table=${TABLE.classify},priority=90,${c},dl_dst=${mac},ip,actions=resubmit(,${TABLE.ingress})`,
    ...groupFlows({ ...p, mac }, ofport, policy, PRIVATE_ZONE + ofport),
  ];
}
