// Port security on the hosts' public bridge (issue 14): a VM's public port forwards only frames from its own
// MAC, ARP only with that MAC and its own IPv4 as sender, IPv4 only from its own address (what OpenStack's
// port security and libvirt's clean-traffic filter do), as OpenFlow rules per port. Secure by default: the
// bridge drops whatever a port without rules sends, except the uplink's and the host's own ports, so a VM's
// port forwards nothing before its rules are in (a new domain, or one just moved to this host).
//
// Tables (docs/security.md "OpenFlow layout"; security groups of issue 17 fill tables 10 and 20):
//   0  classification and port security: infrastructure ports go to 20, a VM port's clean frames to 10,
//      everything else is dropped
//   10 egress security groups (frames a VM sends): today everything goes on to 20
//   20 ingress security groups (frames to a VM): today everything goes on to 30
//   30 forwarding: NORMAL (MAC learning)
// Every rule carries a cookie: 4b4c ("KL") then 8 hex digits of the port's name and its NIC index, or
// 4b4cffffffffffff for the bridge's baseline, so a port's rules are replaced or removed by cookie.
import type { SgRule } from '../lib/contracts/secgroups.ts';
import { formatIp, parseIp } from '../lib/ipv4.ts';
import type { NetworkContext } from './context.ts';
import { parseFlowLine, type FlowInfo, type InterfaceInfo } from './ovs.ts';
import {
  groupFlows,
  loadPolicy,
  parseProbeSources,
  privateBaselineFlows,
  privatePortFlows,
  type Policy,
} from './secgroups.ts';

export const TABLE = { classify: 0, egress: 10, ingress: 20, forward: 30 } as const;
const PRIORITY = { defaultDrop: 1, infrastructure: 100, portDrop: 150, portAllow: 200 } as const;

/** A VM NIC's OVS port name (src/compute/domain.ts devFor): 'k' + 8 hex + 'n' + index. */
export const VM_PORT = /^k([0-9a-f]{8})n(\d{1,4})$/;
export const BASE_COOKIE = '4b4cffffffffffff';
const PREFIX = '4b4c000000000000';
const PREFIX_MASK = 'ffff000000000000';
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

export interface PublicPort {
  dev: string;
  mac: string;
  ip: string;
}

/** The cookie of a VM port's rules. */
export function portCookie(dev: string): string {
  const m = VM_PORT.exec(dev);
  if (!m || Number(m[2]) >= 0xffff) throw new Error(`${JSON.stringify(dev)} is not a VM port name`);
  return `4b4c${m[1]}${Number(m[2]).toString(16).padStart(4, '0')}`;
}

/** The port a Kloudak cookie belongs to; undefined for the baseline and for other cookies. */
export function devOfCookie(cookie: string): string | undefined {
  if (!cookie.startsWith('4b4c') || cookie === BASE_COOKIE || cookie.length !== 16) return undefined;
  return `k${cookie.slice(4, 12)}n${parseInt(cookie.slice(12), 16)}`;
}

const isKloudak = (f: FlowInfo) => f.cookie.startsWith('4b4c');

/** Checks what goes into a rule (it is a line of ovs-ofctl input): a MAC, a dotted IPv4, a port number. */
function checked(p: PublicPort, ofport: number): { mac: string; ip: string } {
  const mac = p.mac.toLowerCase();
  if (!MAC.test(mac)) throw new Error(`bad MAC ${JSON.stringify(p.mac)} for port ${p.dev}`);
  const n = parseIp(p.ip);
  if (n === undefined || formatIp(n) !== p.ip)
    throw new Error(`bad IPv4 ${JSON.stringify(p.ip)} for ${p.dev}`);
  if (!Number.isInteger(ofport) || ofport < 1 || ofport > 0xfeff)
    throw new Error(`bad OpenFlow port ${ofport}`);
  return { mac, ip: p.ip };
}

/** The bridge's own rules: default drop, infrastructure ports (uplink, the host's LOCAL port) let through,
 * the later tables passing everything on. Replaces the previous baseline in the same bundle. */
export function baselineFlows(infrastructure: number[]): string[] {
  const c = `cookie=0x${BASE_COOKIE}`;
  return [
    `delete cookie=0x${BASE_COOKIE}/-1`,
    `table=${TABLE.classify},priority=${PRIORITY.defaultDrop},${c},actions=drop`,
    ...['LOCAL', ...infrastructure.map(String)].map(
      (p) =>
        `table=${TABLE.classify},priority=${PRIORITY.infrastructure},${c},in_port=${p},actions=resubmit(,${TABLE.ingress})`,
    ),
    `table=${TABLE.egress},priority=0,${c},actions=resubmit(,${TABLE.ingress})`,
    `table=${TABLE.ingress},priority=0,${c},actions=resubmit(,${TABLE.forward})`,
    `table=${TABLE.forward},priority=0,${c},actions=NORMAL`,
  ];
}

/** A VM port's rules: its own MAC with its own IPv4 (ARP sender, IPv4 source) goes on; the rest is dropped
 * (counted by its own rule, so spoofing attempts show in dump-flows); then its security groups' rules
 * (secgroups.ts). Replaces the port's previous rules. */
export function portFlows(p: PublicPort & { vm: string }, ofport: number, policy: Policy): string[] {
  const { mac, ip } = checked(p, ofport);
  const cookie = portCookie(p.dev);
  const head = `table=${TABLE.classify},cookie=0x${cookie},in_port=${ofport}`;
  return [
    `delete cookie=0x${cookie}/-1`,
    `${head},priority=${PRIORITY.portAllow},dl_src=${mac},arp,arp_sha=${mac},arp_spa=${ip},actions=resubmit(,${TABLE.egress})`,
    `${head},priority=${PRIORITY.portAllow},dl_src=${mac},ip,nw_src=${ip},actions=resubmit(,${TABLE.egress})`,
    `${head},priority=${PRIORITY.portDrop},actions=drop`,
    ...groupFlows(p, ofport, policy),
  ];
}

/** Ports that are not VMs' (the uplink, bonds, the operator's own): their frames are not filtered. */
export const infrastructurePorts = (ifaces: InterfaceInfo[]): number[] =>
  ifaces
    .filter((i) => i.ofport !== undefined && !VM_PORT.test(i.name))
    .map((i) => i.ofport!)
    .sort((a, b) => a - b);

/** What identifies a rule set here: table, priority and input port of each rule (the values in it come from
 * records that never change for a port). */
const shape = (flows: { table: number; priority: number; inPort?: number | 'LOCAL' }[]) =>
  flows
    .map((f) => `${f.table}/${f.priority}/${f.inPort ?? '*'}`)
    .sort()
    .join(' ');

const expectedBaseline = (infra: number[]) =>
  shape([
    { table: TABLE.classify, priority: PRIORITY.defaultDrop },
    ...['LOCAL' as const, ...infra].map((p) => ({
      table: TABLE.classify,
      priority: PRIORITY.infrastructure,
      inPort: p,
    })),
    { table: TABLE.egress, priority: 0 },
    { table: TABLE.ingress, priority: 0 },
    { table: TABLE.forward, priority: 0 },
  ]);

const expectedPort = (flows: string[]) =>
  shape(
    flows.map(parseFlowLine).filter((f): f is FlowInfo => f !== undefined && !f.text.startsWith('delete')),
  );

interface Host {
  name: string;
  address: string;
}

type Deps = Pick<NetworkContext, 'db' | 'ovs' | 'config' | 'policy'>;

/** A workspace's groups as inventory has them, and the probe sources of the configuration. */
const policyOf = (ctx: Deps, workspace: string, override?: { group: string; rules: SgRule[] }) =>
  loadPolicy(ctx.policy, workspace, override, parseProbeSources(ctx.config.SG_PROBE_SOURCES));

/** Records the VM's public port on `host`. Its rules come with its workspace's (applyWorkspace, which must
 * follow); until then the port forwards nothing. The record comes first: if the rules cannot be installed
 * now, the reconciler installs them. */
export async function recordPublicPort(
  ctx: Pick<Deps, 'db'>,
  host: string,
  owner: { workspace: string; vm: string; task_id: string },
  p: PublicPort,
): Promise<void> {
  checked(p, 1);
  portCookie(p.dev);
  await ctx.db
    .insertInto('public_ports')
    .values({ host, dev: p.dev, mac: p.mac.toLowerCase(), ip: p.ip, ...owner })
    .onConflict((oc) =>
      oc
        .columns(['host', 'dev'])
        .doUpdateSet({ mac: p.mac.toLowerCase(), ip: p.ip, workspace: owner.workspace, vm: owner.vm }),
    )
    .execute();
}

/** Puts a workspace's rules on every host where one of its VMs has a port (a group changed, a member came or
 * went, a port was recorded). `override`: one group's rules instead of inventory's (a rollback's). One bundle
 * per host and bridge. Answers the ports that got rules (a port on no bridge of its host gets none). */
export async function applyWorkspace(
  ctx: Deps & Pick<NetworkContext, 'hosts'>,
  workspace: string,
  override?: { group: string; rules: SgRule[] },
): Promise<{ host: string; dev: string }[]> {
  const policy = await policyOf(ctx, workspace, override);
  const records = await ctx.db
    .selectFrom('public_ports')
    .selectAll()
    .where('workspace', '=', workspace)
    .execute();
  const privates = await ctx.db.selectFrom('ports').selectAll().where('workspace', '=', workspace).execute();
  const secured: { host: string; dev: string }[] = [];
  // One bundle per host and bridge; the hosts and bridges at once (each is two SSH round trips).
  const onBridge = async (
    hostName: string,
    bridge: string,
    baseline: (ifaces: InterfaceInfo[]) => string[],
    flowsOf: (ifaces: InterfaceInfo[]) => string[],
  ) => {
    const host = await ctx.hosts.get(hostName);
    if (!host) throw new Error(`host ${hostName} is not registered in inventory`);
    const ifaces = await ctx.ovs.listInterfaces(host.address, bridge);
    const flows = flowsOf(ifaces);
    if (flows.length) await ctx.ovs.addFlows(host.address, bridge, [...baseline(ifaces), ...flows]);
  };
  const hostsOf = (rows: { host: string }[]) => [...new Set(rows.map((r) => r.host))].sort();
  const ofportOf = (ifaces: InterfaceInfo[], dev: string) => ifaces.find((i) => i.name === dev)?.ofport;
  await Promise.all([
    ...hostsOf(records).map((h) =>
      onBridge(
        h,
        ctx.config.PUBLIC_BRIDGE,
        (ifaces) => baselineFlows(infrastructurePorts(ifaces)),
        (ifaces) =>
          records
            .filter((r) => r.host === h)
            .flatMap((r) => {
              const ofport = ofportOf(ifaces, r.dev);
              // A port not on this host now (its VM moved, or is down) gets its rules where it is.
              if (ofport === undefined) return [];
              secured.push(r);
              return portFlows(r, ofport, policy);
            }),
      ),
    ),
    // Private NICs: the same groups on the private bridge (secgroups.ts privatePortFlows).
    ...hostsOf(privates).map((h) =>
      onBridge(
        h,
        ctx.config.PRIVATE_BRIDGE,
        () => privateBaselineFlows(),
        (ifaces) =>
          privates
            .filter((r) => r.host === h)
            .flatMap((r) => {
              const ofport = ofportOf(ifaces, r.dev);
              if (ofport === undefined || !VM_PORT.test(r.dev)) return [];
              secured.push(r);
              return privatePortFlows(r, ofport, policy);
            }),
      ),
    ),
  ]);
  return secured.map((r) => ({ host: r.host, dev: r.dev }));
}

/** Removes the port's rules and its record. */
export async function unsecurePublicPort(ctx: Deps, host: Host, dev: string): Promise<void> {
  await ctx.ovs.deleteFlows(host.address, ctx.config.PUBLIC_BRIDGE, portCookie(dev), 'ffffffffffffffff');
  await ctx.db.deleteFrom('public_ports').where('host', '=', host.name).where('dev', '=', dev).execute();
}

export interface PortSecurityReport {
  /** The baseline was missing or stale (ports added, a restarted switch) and was put back. */
  baseline: boolean;
  /** Ports whose rules were (re)installed: missing, or made for an earlier OpenFlow port number. */
  installed: string[];
  /** Rules of ports nobody records any more, removed. */
  removed: string[];
}

/** One host: the baseline and every recorded port's rules are what the records say, nothing else is. */
export async function reconcilePortSecurity(ctx: Deps, host: Host): Promise<PortSecurityReport> {
  const bridge = ctx.config.PUBLIC_BRIDGE;
  const report: PortSecurityReport = { baseline: false, installed: [], removed: [] };
  const records = await ctx.db.selectFrom('public_ports').selectAll().where('host', '=', host.name).execute();
  const ifaces = await ctx.ovs.listInterfaces(host.address, bridge);
  const flows = (await ctx.ovs.dumpFlows(host.address, bridge)).filter(isKloudak);
  const byCookie = new Map<string, FlowInfo[]>();
  for (const f of flows) byCookie.set(f.cookie, [...(byCookie.get(f.cookie) ?? []), f]);

  const infra = infrastructurePorts(ifaces);
  if (shape(byCookie.get(BASE_COOKIE) ?? []) !== expectedBaseline(infra)) {
    await ctx.ovs.addFlows(host.address, bridge, baselineFlows(infra));
    report.baseline = true;
  }
  const wanted = new Set<string>();
  // Each workspace's groups, read once a pass; a workspace whose groups cannot be read now keeps its rules.
  const policies = new Map<string, Promise<Policy | undefined>>();
  const cachedPolicy = (ws: string) => {
    if (!policies.has(ws))
      policies.set(
        ws,
        policyOf(ctx, ws).catch(() => undefined),
      );
    return policies.get(ws)!;
  };
  for (const r of records) {
    const cookie = portCookie(r.dev);
    wanted.add(cookie);
    const ofport = ifaces.find((i) => i.name === r.dev)?.ofport;
    const have = byCookie.get(cookie) ?? [];
    if (ofport === undefined) {
      // The domain is not running here: rules for its old port number would match whoever gets it next.
      if (have.length) {
        await ctx.ovs.deleteFlows(host.address, bridge, cookie, 'ffffffffffffffff');
        report.removed.push(r.dev);
      }
    } else {
      const policy = await cachedPolicy(r.workspace);
      if (!policy) continue;
      const flows = portFlows(r, ofport, policy);
      if (shape(have) !== expectedPort(flows)) {
        await ctx.ovs.addFlows(host.address, bridge, flows);
        report.installed.push(r.dev);
      }
    }
  }
  for (const cookie of byCookie.keys()) {
    const dev = devOfCookie(cookie);
    if (!dev || wanted.has(cookie)) continue;
    // Looked up again: a task may have recorded the port since this pass read the records.
    const now = await ctx.db
      .selectFrom('public_ports')
      .select('dev')
      .where('host', '=', host.name)
      .where('dev', '=', dev)
      .executeTakeFirst();
    if (now) continue;
    await ctx.ovs.deleteFlows(host.address, bridge, cookie, 'ffffffffffffffff');
    report.removed.push(dev);
  }
  return report;
}

/** Every Kloudak rule on the bridge goes (for tests and for taking a host out of service). */
export const removeAllPortSecurity = (ctx: Deps, host: Host) =>
  ctx.ovs.deleteFlows(host.address, ctx.config.PUBLIC_BRIDGE, PREFIX, PREFIX_MASK);
