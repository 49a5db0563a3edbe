// A router is a network namespace on a host with forwarding on, and one OVS internal port per interface,
// tagged with its network's VLAN and holding the interface address. Commands over SSH, idempotent.
import { CommandError } from '../lib/exec.ts';
import type { HostShell } from '../lib/ssh.ts';
import type { SwitchDriver } from './ovs.ts';

export interface RouterHost {
  ensureNamespace(address: string, ns: string): Promise<void>;
  deleteNamespace(address: string, ns: string): Promise<void>;
  addInterface(
    address: string,
    ns: string,
    bridge: string,
    dev: string,
    vlan: number,
    cidr: string,
  ): Promise<void>;
  removeInterface(address: string, bridge: string, dev: string): Promise<void>;
}

export function createNetnsRouterHost(shell: HostShell, ovs: SwitchDriver): RouterHost {
  const sh = (address: string, argv: string[]) => shell.run(address, argv, { timeoutMs: 20_000 });
  const inNs = (address: string, ns: string, argv: string[]) =>
    sh(address, ['ip', 'netns', 'exec', ns, ...argv]);
  const nsExists = async (address: string, ns: string) =>
    (await sh(address, ['ip', 'netns', 'list'])).split('\n').some((l) => l.split(' ')[0] === ns);
  return {
    async ensureNamespace(address, ns) {
      if (!(await nsExists(address, ns))) await sh(address, ['ip', 'netns', 'add', ns]);
      await inNs(address, ns, ['ip', 'link', 'set', 'lo', 'up']);
      await inNs(address, ns, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    },
    async deleteNamespace(address, ns) {
      if (await nsExists(address, ns)) await sh(address, ['ip', 'netns', 'delete', ns]);
    },
    async addInterface(address, ns, bridge, dev, vlan, cidr) {
      await ovs.addInternalPort(address, bridge, dev, vlan);
      const inside = await inNs(address, ns, ['ip', 'link', 'show', dev]).then(
        () => true,
        (e) => {
          if (e instanceof CommandError) return false;
          throw e;
        },
      );
      if (!inside) await sh(address, ['ip', 'link', 'set', dev, 'netns', ns]);
      await inNs(address, ns, ['ip', 'addr', 'replace', cidr, 'dev', dev]);
      await inNs(address, ns, ['ip', 'link', 'set', dev, 'up']);
    },
    async removeInterface(address, bridge, dev) {
      await ovs.deletePort(address, bridge, dev);
    },
  };
}
