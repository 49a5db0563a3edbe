import { test } from 'node:test';
import assert from 'node:assert/strict';
import { localUri } from './snapshot-metadata.ts';

test("a host's local libvirt URI from the one compute uses", () => {
  assert.equal(
    localUri('qemu+libssh://root@10.213.0.11/system?keyfile=/k&known_hosts=/h&known_hosts_verify=normal'),
    'qemu:///system',
  );
  assert.equal(localUri('qemu+ssh://kloudak@kvm-1/system'), 'qemu:///system');
  assert.throws(() => localUri('qemu:///system'), /not allowed/, 'a host is reached over SSH');
  assert.throws(() => localUri('qemu+ssh://h/system;rm'), /refusing/);
});
