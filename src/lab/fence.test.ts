import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FenceError, guestOf, labFence } from './fence.ts';

test("a qemu process's domain is read from its -name guest=... argument", () => {
  const argv = ['/usr/bin/qemu-system-x86_64', '-name', 'guest=kloudak-06cc,debug-threads=on', '-S'];
  assert.equal(guestOf(argv), 'kloudak-06cc');
  assert.equal(guestOf(['/usr/bin/qemu-system-x86_64', '-name', 'guest=a,,b,debug-threads=on']), 'a,b');
  assert.equal(guestOf(['/usr/sbin/libvirtd', '-name', 'guest=kloudak-06cc']), undefined, 'not qemu');
  assert.equal(guestOf(['qemu-system-x86_64', '-M', 'pc']), undefined, 'no -name');
});

test('only lab hosts are fenced', async () => {
  await assert.rejects(
    labFence('../../etc', ['x']),
    (e: unknown) => e instanceof FenceError && e.exitCode === 2,
  );
  await assert.rejects(labFence('kl-h999', ['x']), /no lab host kl-h999/);
});
