// The seed image as other readers see it: isoinfo (genisoimage's reader) lists the Joliet and ISO 9660
// names and extracts the files, blkid finds the cidata label. test/system/vm-life.test.ts and the other lab
// tests boot guests from it (the Linux iso9660 driver reads the Joliet tree).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../lib/exec.ts';
import { isoImage } from './iso9660.ts';
import { seedIso } from './seed.ts';

test('a seed image: label cidata, Joliet names, the same bytes back, files past one sector', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kloudak-iso-'));
  try {
    const userData = `#cloud-config\nhostname: "web-1"\nruncmd:\n${'  - "echo é"\n'.repeat(400)}`;
    assert.ok(Buffer.byteLength(userData) > 2 * 2048, 'spans sectors');
    const iso = join(dir, 'seed.iso');
    writeFileSync(
      iso,
      isoImage('cidata', [
        { name: 'user-data', data: Buffer.from(userData) },
        { name: 'meta-data', data: Buffer.from('instance-id: "t-1"\n') },
        { name: 'network-config', data: Buffer.from('version: 2\n') },
      ]),
    );
    assert.match(await run('blkid', ['-o', 'export', iso]), /LABEL=cidata\nTYPE=iso9660/);
    const info = await run('isoinfo', ['-d', '-i', iso]);
    assert.match(info, /Volume id: cidata/);
    assert.match(info, /Joliet with UCS level 3 found/);
    assert.deepEqual((await run('isoinfo', ['-J', '-f', '-i', iso])).trim().split('\n'), [
      '/meta-data',
      '/network-config',
      '/user-data',
    ]);
    assert.deepEqual((await run('isoinfo', ['-f', '-i', iso])).trim().split('\n'), [
      '/META_DAT.;1',
      '/NETWORK_.;1',
      '/USER_DAT.;1',
    ]);
    assert.equal(await run('isoinfo', ['-J', '-x', '/user-data', '-i', iso]), userData);
    assert.equal(await run('isoinfo', ['-J', '-x', '/meta-data', '-i', iso]), 'instance-id: "t-1"\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a VM's seed holds its three documents; names and labels a reader would misread are refused", () => {
  const image = seedIso({
    instanceId: 't-2',
    hostname: 'vm',
    nics: [{ mac: '52:54:00:00:00:01', addresses: [] }],
  });
  assert.equal(image.subarray(32769, 32774).toString(), 'CD001');
  assert.equal(
    image.subarray(32808, 32840).toString().trim(),
    'cidata',
    'where the test guest reads the label',
  );
  assert.ok(image.includes(Buffer.from('instance-id: "t-2"')));
  assert.throws(() => isoImage('no spaces', []), /volume id/);
  assert.throws(() => isoImage('v', [{ name: 'a/b', data: Buffer.alloc(0) }]), /not a Joliet name/);
  assert.throws(
    () =>
      isoImage('v', [
        { name: 'user-data', data: Buffer.alloc(0) },
        { name: 'user-data-2', data: Buffer.alloc(0) },
      ]),
    /collide/,
  );
});
