// Lab layout (names, addresses, paths) and its record in <stateDir>/lab.json.
import { readFile, writeFile, rename } from 'node:fs/promises';
import { join, resolve } from 'node:path';

export type DomainType = 'kvm' | 'qemu';

/** Addresses and names of the root-namespace side; one lab per machine, so they are fixed. */
export const NET = {
  mgmtBridge: 'kl-mgmt',
  mgmtPrefix: '10.213.0', // 10.213.0.1 root side, hosts from .11: unused on this machine, never routed out
  mgmtHostBase: 10,
  publicBridge: 'kl-pub', // public uplink of every host's public-br
  publicPrefix: '10.213.1', // a subnet for guests' public NICs; the root side holds .1 (a reachable gateway)
  privateBridge: 'kl-priv', // trunk of every host's private-br: a plain bridge forwards tagged frames as they are
  hostPublicBridge: 'public-br',
  hostPrivateBridge: 'private-br',
} as const;

/** Where the shared pool appears inside every host: the same path everywhere, as the book requires. */
export const HOST_POOL_PATH = '/var/lib/kloudak/pool';
/** The test guest template inside the pool (kernel, initramfs, base disk). */
export const TEMPLATE_SUBDIR = 'templates/kloudak-test';

export interface LabHostRecord {
  name: string;
  index: number;
  ip: string;
  netns: string;
  pids: Record<string, number>;
  links: { mgmt: string; public: string; private: string };
}

export interface LabRecord {
  version: 1;
  stateDir: string;
  domainType: DomainType;
  hosts: LabHostRecord[];
  cut: string[];
}

export interface LabPaths {
  stateDir: string;
  record: string;
  key: string;
  knownHosts: string;
  sshCommand: string;
  pool: string;
  guest: string;
  nsDir: string;
  hostsDir: string;
  capsCache: string;
  domainTypeFile: string;
}

export function labPaths(stateDir: string): LabPaths {
  const d = resolve(stateDir);
  return {
    stateDir: d,
    record: join(d, 'lab.json'),
    key: join(d, 'id_ed25519'),
    knownHosts: join(d, 'known_hosts'),
    sshCommand: join(d, 'ssh'),
    pool: join(d, 'pool'),
    guest: join(d, 'guest'),
    nsDir: join(d, 'ns'),
    hostsDir: join(d, 'hosts'),
    capsCache: join(d, 'libvirt-cache'),
    domainTypeFile: join(d, 'domain-type'),
  };
}

export function hostName(index: number): string {
  return `kl-h${index}`;
}

export function hostIp(index: number): string {
  return `${NET.mgmtPrefix}.${NET.mgmtHostBase + index}`;
}

export function hostLinks(index: number): LabHostRecord['links'] {
  // Root-side veth ends; at most 15 characters.
  return { mgmt: `kl-m${index}`, public: `kl-p${index}`, private: `kl-v${index}` };
}

export function mntNsFile(paths: LabPaths, name: string): string {
  return join(paths.nsDir, name);
}

export function hostDir(paths: LabPaths, name: string): string {
  return join(paths.hostsDir, name);
}

export async function readRecord(paths: LabPaths): Promise<LabRecord | undefined> {
  try {
    return JSON.parse(await readFile(paths.record, 'utf8')) as LabRecord;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

export async function writeRecord(paths: LabPaths, rec: LabRecord): Promise<void> {
  const tmp = `${paths.record}.tmp`;
  await writeFile(tmp, JSON.stringify(rec, null, 2) + '\n', { mode: 0o600 });
  await rename(tmp, paths.record);
}
