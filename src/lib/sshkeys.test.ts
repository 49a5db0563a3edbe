import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseSshPublicKey, SshKeyError } from './sshkeys.ts';

const execFileP = promisify(execFile);

test('keys ssh-keygen makes parse, with the fingerprint ssh-keygen -l prints', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kloudak-sshkeys-'));
  try {
    for (const [type, bits] of [
      ['ed25519', 256],
      ['rsa', 2048],
      ['ecdsa', 256],
      ['ecdsa', 521],
    ] as const) {
      const f = join(dir, `${type}-${bits}`);
      await execFileP('ssh-keygen', [
        '-q',
        '-t',
        type,
        '-b',
        String(bits),
        '-N',
        '',
        '-C',
        'me@x y',
        '-f',
        f,
      ]);
      const pub = await readFile(`${f}.pub`, 'utf8');
      const k = parseSshPublicKey(pub);
      const l = (await execFileP('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${f}.pub`])).stdout;
      assert.equal(l.split(' ')[1], k.fingerprint);
      assert.equal(k.bits, bits);
      assert.equal(k.comment, 'me@x y');
      assert.equal(k.line, pub.trim());
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('bad keys are refused saying why', () => {
  const ed = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHd8Fq4JzQ0yQp6aV3h7b2mYJX5d1n0X4oQdYb3y3y3y';
  assert.equal(parseSshPublicKey(ed).type, 'ssh-ed25519');
  const cases: [string, RegExp][] = [
    ['', /form/],
    ['hello', /form/],
    ['ssh-dss AAAAB3NzaC1kc3M= x', /type ssh-dss/],
    [`${ed}\nssh-ed25519 AAAA`, /one line/],
    // The blob says ed25519 but the line says RSA.
    [ed.replace('ssh-ed25519', 'ssh-rsa'), /RSA|parts/],
    // A truncated blob.
    ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHd8', /truncated|parts|ed25519/],
    ['ssh-ed25519 AAAA!!!', /form|base64/],
    [`${ed} comment\twith tab`, /form/],
  ];
  for (const [text, re] of cases)
    assert.throws(
      () => parseSshPublicKey(text),
      (e: unknown) => e instanceof SshKeyError && re.test(e.message),
      text,
    );
});
