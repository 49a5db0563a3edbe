// The second path (issue 18 item 5): before a host whose management connection went silent is reported
// failed, monitoring asks whether its guests still answer on the public network. One guest answering means
// the host runs and serves (a management blip, or a management network down): no failover, which would kill
// serving guests to restart them elsewhere. docs/monitoring.md "Failure detection" says why this path.
import type { InventoryClient } from '../lib/clients/inventory.ts';
import { CommandError, run } from '../lib/exec.ts';
import type { HostShell } from '../lib/ssh.ts';
import { tcpReach } from '../lib/tcp.ts';
import { endpointOf } from './probe.ts';

/** Whether addresses answer on the network: the role; ping from here or from a peer host are adapters. */
export interface GuestProbe {
  /** The addresses that answered within about timeoutMs (tried twice). */
  answering(addresses: string[], timeoutMs: number, via?: string): Promise<string[]>;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/**
 * One echo request with a deadline: true when answered, false when not (iputils ping exits 1); throws when
 * the question could not be asked (no route from the vantage point, no ping, SSH to the peer failed).
 */
type Pinger = (ip: string, waitSeconds: number) => Promise<boolean>;

function pingAll(ping: Pinger): GuestProbe['answering'] {
  return async (addresses, timeoutMs) => {
    const ips = [...new Set(addresses.filter((a) => IPV4.test(a)))];
    const wait = Math.max(1, Math.floor(timeoutMs / 2000));
    const answered = new Set<string>();
    // Two rounds: one lost packet (a busy guest, a full queue) is not a dead host.
    for (let round = 0; round < 2 && !answered.size && ips.length; round++) {
      const errors: string[] = [];
      await Promise.all(
        ips.map(async (ip) => {
          try {
            if (await ping(ip, wait)) answered.add(ip);
          } catch (e) {
            errors.push((e as Error).message);
          }
        }),
      );
      // Silence means dead only when the question reached the network.
      if (!answered.size && errors.length === ips.length)
        throw new Error(`no guest could be asked: ${errors[0]?.slice(0, 200)}`);
    }
    return [...answered];
  };
}

const pingArgs = (ip: string, wait: number) => ['-n', '-q', '-c', '1', '-W', String(wait), ip];
const unanswered = (e: unknown) => {
  if (e instanceof CommandError && e.code === 1) return false;
  throw e;
};

/** ICMP echo from the monitoring machine (it must reach the guests' public network). */
export function createPingProbe(): GuestProbe {
  return {
    answering: pingAll((ip, wait) =>
      run('ping', pingArgs(ip, wait), { timeoutMs: wait * 1000 + 2000 }).then(() => true, unanswered),
    ),
  };
}

/** ICMP echo sent by another host of the area over SSH (`via`), for a monitoring machine off the public network. */
export function createPeerPingProbe(shell: HostShell): GuestProbe {
  return {
    async answering(addresses, timeoutMs, via) {
      if (!via) throw new Error('no peer host to ask from');
      return pingAll((ip, wait) =>
        shell
          .run(via, ['ping', ...pingArgs(ip, wait)], { timeoutMs: wait * 1000 + 5000 })
          .then(() => true, unanswered),
      )(addresses, timeoutMs);
    },
  };
}

/** Where a VM's public address is recorded: inventory. */
export interface GuestDirectory {
  /** The public address of each VM (by "<workspace>/<vm>") recorded on `host`; others are left out. */
  addresses(host: string, vms: { workspace: string; vm: string }[]): Promise<string[]>;
}

export function createInventoryGuestDirectory(inventory: Pick<InventoryClient, 'vms'>): GuestDirectory {
  // The last answer for each VM: confirmation still works while inventory is unreachable.
  const known = new Map<string, { ip: string; host: string | null }>();
  return {
    async addresses(host, vms) {
      const found = await Promise.all(
        vms.map(async ({ workspace, vm }) => {
          const key = `${workspace}/${vm}`;
          try {
            const a = await inventory.vms.get(workspace, vm);
            if (!a) known.delete(key);
            else if (a.ip) known.set(key, { ip: a.ip, host: a.host });
          } catch {
            // inventory unreachable: what it said last
          }
          const k = known.get(key);
          // A VM recorded on another host (moved) answering says nothing about this one.
          return k && k.host === host ? k.ip : undefined;
        }),
      );
      return found.filter((x): x is string => x !== undefined);
    },
  };
}

/**
 * Whether a host's management endpoint (its libvirt URI's SSH port) accepts a TCP connection: the host's
 * kernel completes the handshake however starved of CPU its daemons are, and a host that is off, crashed or
 * cut off does not. Undefined when the URI names no endpoint to try.
 */
export interface ManagementReach {
  accepts(libvirtUri: string, timeoutMs: number): Promise<boolean | undefined>;
}

export function createTcpManagementReach(): ManagementReach {
  return {
    async accepts(uri, timeoutMs) {
      const ep = endpointOf(uri);
      if (!ep) return undefined;
      return tcpReach(ep.host, ep.port, timeoutMs).then(
        () => true,
        () => false,
      );
    },
  };
}
