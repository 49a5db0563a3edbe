// The cloud-init NoCloud seed of a VM: meta-data, user-data (#cloud-config) and network-config (version 2),
// packed as an ISO labelled cidata. Strings are YAML double-quoted with only \" and \\ escapes, which both
// real cloud-init and the tiny test guest read (scripts/guest/README.md); newlines are refused upstream.
// user-data is the user's own #cloud-config merged with the platform's keys (src/lib/cloud-config.ts).
import { mergeUserData } from '../lib/cloud-config.ts';
import { isoImage } from './iso9660.ts';

export interface SeedNic {
  mac: string;
  /** CIDR addresses, e.g. 10.213.1.21/24. */
  addresses: string[];
  gateway?: string;
}

export interface Seed {
  instanceId: string;
  hostname: string;
  password?: string;
  /** The public NIC first: its address is the one the guest reports. */
  nics: SeedNic[];
  runcmd?: string[];
  /** Public key lines for root's authorized_keys. */
  sshKeys?: string[];
  /** The user's #cloud-config, checked when the request arrived. */
  userData?: string;
}

const q = (s: string) => {
  if (/[\n\r\0]/.test(s)) throw new Error('seed strings cannot hold newlines');
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
};

export function seedDocuments(seed: Seed): Record<'meta-data' | 'user-data' | 'network-config', string> {
  const meta = `instance-id: ${q(seed.instanceId)}\nlocal-hostname: ${q(seed.hostname)}\n`;
  // The platform's strings are one line each (the guest reads no multi-line scalars); q() refuses others.
  [seed.password ?? '', ...(seed.runcmd ?? []), ...(seed.sshKeys ?? [])].forEach(q);
  const user = mergeUserData(
    { hostname: seed.hostname, password: seed.password, sshKeys: seed.sshKeys, runcmd: seed.runcmd },
    seed.userData,
  );
  let net = 'version: 2\nethernets:\n';
  seed.nics.forEach((n, i) => {
    net += `  nic${i}:\n    match:\n      macaddress: ${q(n.mac.toLowerCase())}\n`;
    if (n.addresses.length) net += `    addresses:\n${n.addresses.map((a) => `      - ${a}\n`).join('')}`;
    if (n.gateway) net += `    gateway4: ${n.gateway}\n`;
  });
  return { 'meta-data': meta, 'user-data': user, 'network-config': net };
}

/** The seed ISO's bytes, for upload to the pool (built in memory: iso9660.ts). */
export function seedIso(seed: Seed): Buffer {
  return isoImage(
    'cidata',
    Object.entries(seedDocuments(seed)).map(([name, text]) => ({ name, data: Buffer.from(text) })),
  );
}
