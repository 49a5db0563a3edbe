// A snapshot's XML, read with virsh on its host over SSH (the connection storage uses). Not through the
// libvirt URI: Debian 12's virsh (libvirt 9.0) over the libssh transport dies of a segfault on
// `snapshot-dumpxml` every time on the lab's hosts (5 attempts in a row; capabilities and larger answers come
// through), while the same command run on the host against its local libvirtd answers.
import { assertLibvirtUri } from '../lib/libvirt-uri.ts';
import type { HostShell } from '../lib/ssh.ts';

/** The role: libvirt's metadata of a domain's snapshot, as XML that `snapshot-create --redefine` takes. */
export interface SnapshotMetadata {
  xml(address: string, libvirtUri: string, domain: string, snapshot: string): Promise<string>;
}

/** The host-local URI of a remote one: qemu+libssh://root@h/system -> qemu:///system. */
export function localUri(uri: string): string {
  assertLibvirtUri(uri);
  const m = /^([a-z]+)(?:\+[a-z]+)?:\/\/[^/]*(\/[a-z]+)/.exec(uri);
  if (!m) throw new Error(`cannot tell the local libvirt URI of ${uri}`);
  return `${m[1]}://${m[2]}`;
}

export function createSshSnapshotMetadata(shell: HostShell, timeoutMs = 60_000): SnapshotMetadata {
  return {
    xml: (address, uri, domain, snapshot) =>
      shell.run(
        address,
        [
          'virsh',
          '-q',
          '-c',
          localUri(uri),
          'snapshot-dumpxml',
          '--domain',
          domain,
          '--snapshotname',
          snapshot,
        ],
        { timeoutMs },
      ),
  };
}
