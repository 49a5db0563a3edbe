import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tenantError } from './tenant-error.ts';

test("a tenant reads no host path, URI, user@host or address of the operators' hosts", () => {
  const raw =
    'virsh -c qemu+libssh://root@10.211.0.2/system?known_hosts=/etc/kloudak/known_hosts define failed: ' +
    "Cannot access storage file '/var/lib/kloudak/pools/p1/vms/kloudak-t1/disk.qcow2' (as uid:64055); " +
    'ssh kloudak@lab-h2 exited 255; connect to 192.168.122.7:16509 refused; subnet 10.9.0.0/24';
  const shown = tenantError(raw, 'req-7')!;
  for (const secret of [
    '/var/lib',
    'qemu+libssh',
    'root@',
    '10.211.0.2',
    'known_hosts',
    'lab-h2',
    '192.168',
    '10.9.0.0',
  ])
    assert.ok(!shown.includes(secret), `${secret} in ${shown}`);
  assert.match(shown, /define failed/);
  assert.match(shown, /Cannot access storage file '<path>'/);
  assert.match(shown, /request req-7\)$/);
});

test('an error with nothing of the hosts in it is shown as it is', () => {
  assert.equal(
    tenantError('no host has room for 2 CPUs and 4 GiB', 'r'),
    'no host has room for 2 CPUs and 4 GiB',
  );
  assert.equal(tenantError('network/router busy; rolled back', 'r'), 'network/router busy; rolled back');
  assert.equal(tenantError(null, 'r'), null);
});
