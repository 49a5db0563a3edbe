// Open vSwitch on a host, over SSH: one method per ovs-vsctl command, arguments as an array, a timeout on
// every call (--timeout makes ovs-vsctl give up instead of hanging on a dead ovsdb).
import type { HostShell } from '../lib/ssh.ts';

export interface PortInfo {
  name: string;
  /** undefined: untagged (a trunk, or not configured yet). */
  tag?: number;
}

/** The role: a host's virtual switch. */
export interface SwitchDriver {
  setPortTag(address: string, port: string, vlan: number): Promise<void>;
  portTag(address: string, port: string): Promise<number | undefined | null>;
  listPorts(address: string, bridge: string): Promise<PortInfo[]>;
  addInternalPort(address: string, bridge: string, port: string, vlan: number): Promise<void>;
  deletePort(address: string, bridge: string, port: string): Promise<void>;
}

export function createOvsSwitch(shell: HostShell): SwitchDriver {
  const vsctl = (address: string, args: string[]) =>
    shell.run(address, ['ovs-vsctl', '--timeout=10', ...args], { timeoutMs: 20_000 });
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
      const out = await vsctl(address, ['--format=json', '--columns=name,tag', 'list', 'Port', ...names]);
      const data = JSON.parse(out) as { data: [string, unknown][] };
      return data.data.map(([name, tag]) => ({ name, tag: typeof tag === 'number' ? tag : undefined }));
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
  };
}
