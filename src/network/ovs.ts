// Open vSwitch on a host, over SSH: one method per ovs-vsctl or ovs-ofctl command, arguments as an array, a
// timeout on every call (--timeout makes either tool give up instead of hanging on a dead ovsdb or switch).
import type { HostShell } from '../lib/ssh.ts';

export interface PortInfo {
  name: string;
  /** undefined: untagged (a trunk, or not configured yet). */
  tag?: number;
  /** Why the port was quarantined (external_ids:kloudak-quarantine), when it is. */
  quarantine?: string;
}

export interface InterfaceInfo {
  name: string;
  /** The OpenFlow port number; undefined while OVS has not assigned one (or failed to open the device). */
  ofport?: number;
}

/** One OpenFlow rule as ovs-ofctl dumps it (numbers for ports, no statistics). */
export interface FlowInfo {
  /** 16 hex digits, no 0x. */
  cookie: string;
  table: number;
  priority: number;
  /** A port number, 'LOCAL', or undefined when the rule matches any port. */
  inPort?: number | 'LOCAL';
  /** The whole line, for diagnostics. */
  text: string;
}

/** The external_ids key that marks a quarantined port (and says why). */
export const QUARANTINE_KEY = 'kloudak-quarantine';
/** The VLAN a quarantined port is moved to: no network ever gets it (802.1Q reserves it). */
export const DEAD_VLAN = 4095;

/** The role: a host's virtual switch. */
export interface SwitchDriver {
  setPortTag(address: string, port: string, vlan: number): Promise<void>;
  portTag(address: string, port: string): Promise<number | undefined | null>;
  listPorts(address: string, bridge: string): Promise<PortInfo[]>;
  addInternalPort(address: string, bridge: string, port: string, vlan: number): Promise<void>;
  deletePort(address: string, bridge: string, port: string): Promise<void>;
  /** Moves the port to the dead VLAN and marks it with the reason. */
  quarantinePort(address: string, port: string, reason: string): Promise<void>;
  /** Gives a quarantined port its VLAN back and removes the mark. */
  releasePort(address: string, port: string, vlan: number): Promise<void>;
  /** Administratively up or down (ovs-ofctl mod-port): a port down neither sends nor receives. */
  setPortLink(address: string, bridge: string, port: string, up: boolean): Promise<void>;
  listInterfaces(address: string, bridge: string): Promise<InterfaceInfo[]>;
  /** Applies flow mods (`add`, or `delete ...` lines) as one atomic bundle. */
  addFlows(address: string, bridge: string, flows: string[]): Promise<void>;
  dumpFlows(address: string, bridge: string): Promise<FlowInfo[]>;
  /** Deletes every rule whose cookie matches `cookie` under `mask` (both 16 hex digits). */
  deleteFlows(address: string, bridge: string, cookie: string, mask: string): Promise<void>;
}

const HEX16 = /^[0-9a-f]{16}$/;
const REASON = /^[a-z0-9-]{1,64}$/;

/** ovs-ofctl's dump line: ` cookie=0x..., table=0, priority=200,arp,in_port=5,... actions=...`. */
export function parseFlowLine(line: string): FlowInfo | undefined {
  const cookie = /\bcookie=0x([0-9a-f]+)/.exec(line)?.[1];
  if (cookie === undefined) return undefined;
  const table = Number(/\btable=(\d+)/.exec(line)?.[1] ?? 0);
  const priority = Number(/\bpriority=(\d+)/.exec(line)?.[1] ?? 32768);
  const port = /\bin_port=("?)([^,\s"]+)\1/.exec(line)?.[2];
  return {
    cookie: cookie.padStart(16, '0'),
    table,
    priority,
    inPort: port === undefined ? undefined : port === 'LOCAL' ? 'LOCAL' : Number(port),
    text: line.trim(),
  };
}

export function createOvsSwitch(shell: HostShell): SwitchDriver {
  const vsctl = (address: string, args: string[]) =>
    shell.run(address, ['ovs-vsctl', '--timeout=10', ...args], { timeoutMs: 20_000 });
  const ofctl = (address: string, args: string[], input?: string) =>
    shell.run(address, ['ovs-ofctl', '--timeout=10', ...args], { timeoutMs: 20_000, input });
  return {
    async setPortTag(address, port, vlan) {
      await vsctl(address, ['set', 'Port', port, `tag=${vlan}`]);
    },
    /** null when the port does not exist. */
    async portTag(address, port) {
      const out = (await vsctl(address, ['--if-exists', 'get', 'Port', port, 'tag'])).trim();
      if (out === '') return null;
      return out === '[]' ? undefined : Number(out);
    },
    async listPorts(address, bridge) {
      const names = (await vsctl(address, ['list-ports', bridge]))
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean);
      if (!names.length) return [];
      const out = await vsctl(address, [
        '--format=json',
        '--columns=name,tag,external_ids',
        'list',
        'Port',
        ...names,
      ]);
      const data = JSON.parse(out) as { data: [string, unknown, unknown][] };
      return data.data.map(([name, tag, ids]) => {
        // external_ids is ["map", [[key, value], ...]].
        const map = Array.isArray(ids) && Array.isArray(ids[1]) ? (ids[1] as [string, string][]) : [];
        const quarantine = map.find(([k]) => k === QUARANTINE_KEY)?.[1];
        return {
          name,
          tag: typeof tag === 'number' ? tag : undefined,
          ...(quarantine !== undefined ? { quarantine } : {}),
        };
      });
    },
    async addInternalPort(address, bridge, port, vlan) {
      await vsctl(address, [
        '--may-exist',
        'add-port',
        bridge,
        port,
        `tag=${vlan}`,
        '--',
        'set',
        'Interface',
        port,
        'type=internal',
      ]);
    },
    async deletePort(address, bridge, port) {
      await vsctl(address, ['--if-exists', 'del-port', bridge, port]);
    },
    async quarantinePort(address, port, reason) {
      if (!REASON.test(reason)) throw new Error(`bad quarantine reason ${JSON.stringify(reason)}`);
      await vsctl(address, [
        'set',
        'Port',
        port,
        `tag=${DEAD_VLAN}`,
        `external_ids:${QUARANTINE_KEY}=${reason}`,
      ]);
    },
    async releasePort(address, port, vlan) {
      await vsctl(address, [
        'set',
        'Port',
        port,
        `tag=${vlan}`,
        '--',
        'remove',
        'Port',
        port,
        'external_ids',
        QUARANTINE_KEY,
      ]);
    },
    async setPortLink(address, bridge, port, up) {
      await ofctl(address, ['mod-port', bridge, port, up ? 'up' : 'down']);
    },
    async listInterfaces(address, bridge) {
      // One call, two commands: the bridge's interface names (one per line), then every interface's OpenFlow
      // port (one JSON line; interfaces of other bridges are dropped here).
      const out = await vsctl(address, [
        '--format=json',
        'list-ifaces',
        bridge,
        '--',
        '--columns=name,ofport',
        'list',
        'Interface',
      ]);
      const lines = out.split('\n').map((l) => l.trim());
      const json = lines.findIndex((l) => l.startsWith('{'));
      if (json < 0) throw new Error(`ovs-vsctl list Interface answered no JSON: ${out.slice(0, 200)}`);
      const names = new Set(lines.slice(0, json).filter(Boolean));
      const data = JSON.parse(lines[json]) as { data: [string, unknown][] };
      return data.data
        .filter(([name]) => names.has(name))
        .map(([name, ofport]) => ({
          name,
          ofport: typeof ofport === 'number' && ofport > 0 ? ofport : undefined,
        }));
    },
    async addFlows(address, bridge, flows) {
      // Each flow is one line of the bundle: a line break inside one would smuggle in another rule.
      if (flows.some((f) => /[\r\n]/.test(f))) throw new Error('a flow spans lines');
      await ofctl(address, ['--bundle', 'add-flows', bridge, '-'], `${flows.join('\n')}\n`);
    },
    async dumpFlows(address, bridge) {
      const out = await ofctl(address, ['--no-names', '--no-stats', 'dump-flows', bridge]);
      return out
        .split('\n')
        .map(parseFlowLine)
        .filter((f): f is FlowInfo => f !== undefined);
    },
    async deleteFlows(address, bridge, cookie, mask) {
      if (!HEX16.test(cookie) || !HEX16.test(mask)) throw new Error('cookie and mask are 16 hex digits');
      await ofctl(address, ['del-flows', bridge, `cookie=0x${cookie}/0x${mask}`]);
    },
  };
}
