// Root-namespace side of the lab network: three plain Linux bridges (management, public uplink, private
// trunk) and, per host, one veth pair into each. Plain bridges forward 802.1Q-tagged frames unchanged,
// which is all a trunk between OVS bridges needs (vlan_filtering is missing in this kernel anyway).
import { tcpReach } from '../lib/tcp.ts';
import { run, tryRun, waitFor } from './exec.ts';
import { NET, hostLinks, hostIp } from './state.ts';

const ip = (args: string[]) => run('ip', args, { timeoutMs: 10_000 });
const tryIp = (args: string[]) => tryRun('ip', args, { timeoutMs: 10_000 });

export async function linkExists(name: string, netns?: string): Promise<boolean> {
  const args = netns ? ['-n', netns, 'link', 'show', 'dev', name] : ['link', 'show', 'dev', name];
  return tryIp(args);
}

async function ensureBridge(name: string, cidr?: string): Promise<void> {
  if (!(await linkExists(name))) await ip(['link', 'add', 'name', name, 'type', 'bridge']);
  // A bridge for lab traffic only: no STP delay before ports forward.
  await tryIp(['link', 'set', 'dev', name, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
  if (cidr) {
    const addrs = await ip(['-o', 'addr', 'show', 'dev', name]);
    if (!addrs.includes(` ${cidr} `)) await ip(['addr', 'add', cidr, 'dev', name]);
  }
  await ip(['link', 'set', 'dev', name, 'up']);
}

export async function ensureRootNet(): Promise<void> {
  await ensureBridge(NET.mgmtBridge, `${NET.mgmtPrefix}.1/24`);
  await ensureBridge(NET.publicBridge, `${NET.publicPrefix}.1/24`);
  await ensureBridge(NET.privateBridge);
}

export async function removeRootNet(): Promise<void> {
  for (const b of [NET.mgmtBridge, NET.publicBridge, NET.privateBridge])
    await tryIp(['link', 'del', 'dev', b]);
}

/** Inside-namespace names of the three veth ends. */
export const HOST_IFACES = { mgmt: 'mgmt0', public: 'pub-up', private: 'priv-up' } as const;

/** Creates (or completes) the host's three veth pairs, management address included. */
export async function ensureHostLinks(index: number, netns: string): Promise<void> {
  const links = hostLinks(index);
  const pairs: [string, string, string][] = [
    [links.mgmt, HOST_IFACES.mgmt, NET.mgmtBridge],
    [links.public, HOST_IFACES.public, NET.publicBridge],
    [links.private, HOST_IFACES.private, NET.privateBridge],
  ];
  for (const [outer, inner, bridge] of pairs) {
    const haveOuter = await linkExists(outer);
    const haveInner = await linkExists(inner, netns);
    if (!haveOuter || !haveInner) {
      // A half pair is a leftover: start this pair afresh.
      if (haveOuter) await tryIp(['link', 'del', 'dev', outer]);
      if (haveInner) await tryIp(['-n', netns, 'link', 'del', 'dev', inner]);
      await ip(['link', 'add', 'name', outer, 'type', 'veth', 'peer', 'name', inner, 'netns', netns]);
    }
    await ip(['link', 'set', 'dev', outer, 'master', bridge]);
    await ip(['link', 'set', 'dev', outer, 'up']);
    await ip(['-n', netns, 'link', 'set', 'dev', inner, 'up']);
    if (inner !== HOST_IFACES.mgmt) await checksumsInSoftware(outer, inner, netns);
  }
  await ip(['-n', netns, 'link', 'set', 'dev', 'lo', 'up']);
  const addrs = await ip(['-n', netns, '-o', 'addr', 'show', 'dev', HOST_IFACES.mgmt]);
  if (!addrs.includes(` ${hostIp(index)}/24 `)) {
    await ip(['-n', netns, 'addr', 'add', `${hostIp(index)}/24`, 'dev', HOST_IFACES.mgmt]);
  }
}

// The public and private pairs end in a host's Open vSwitch bridges (userspace datapath). A frame the kernel
// sends with its checksum left to the NIC (transmit offload; the machine's own TCP to a guest) would reach
// OVS unfinished and be forwarded corrupt: the veth computes checksums in software instead. Guests do the
// same for their NICs (src/compute/domain.ts).
async function checksumsInSoftware(outer: string, inner: string, netns: string): Promise<void> {
  await run('ethtool', ['-K', outer, 'tx', 'off'], { timeoutMs: 10_000 });
  await run('ip', ['netns', 'exec', netns, 'ethtool', '-K', inner, 'tx', 'off'], { timeoutMs: 10_000 });
}

export async function removeHostLinks(index: number): Promise<void> {
  const links = hostLinks(index);
  for (const l of [links.mgmt, links.public, links.private]) await tryIp(['link', 'del', 'dev', l]);
}

/** Which of a host's networks a cut takes away: all of them, or the management network only. */
export type CutScope = 'all' | 'management';

/** Cuts a host off the lab networks (or reconnects it) at the root-side veth ends. */
export async function setHostLinks(index: number, up: boolean, scope: CutScope = 'all'): Promise<void> {
  const links = hostLinks(index);
  for (const l of scope === 'all' ? [links.mgmt, links.public, links.private] : [links.mgmt])
    await ip(['link', 'set', 'dev', l, up ? 'up' : 'down']);
}

/** Waits until a restored host's sshd answers on its management address. */
export async function waitHostReachable(index: number): Promise<void> {
  // While cut, the host's address was marked unreachable (a FAILED neighbour entry): connections fail with
  // "No route to host" for seconds after the links are up. Restored means sshd answers again.
  await tryIp(['neigh', 'flush', 'to', hostIp(index)]);
  await waitFor(
    `${hostIp(index)}:22 to answer after the links came up`,
    () =>
      tcpReach(hostIp(index), 22, 1000).then(
        () => true,
        () => undefined,
      ),
    30_000,
    250,
  );
}

export async function netnsList(): Promise<string[]> {
  const out = await run('ip', ['netns', 'list'], { timeoutMs: 10_000 });
  return out
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n !== '');
}

/** Root-side links whose names follow the lab's pattern (leftovers included). */
export async function labRootLinks(): Promise<string[]> {
  const out = await run('ip', ['-o', 'link', 'show'], { timeoutMs: 10_000 });
  const names: string[] = [];
  for (const line of out.split('\n')) {
    const m = /^\d+: ([^:@]+)[:@]/.exec(line);
    if (m?.[1] && /^kl-(m|p|v)\d+$|^kl-(mgmt|pub|priv)$/.test(m[1])) names.push(m[1]);
  }
  return names;
}
