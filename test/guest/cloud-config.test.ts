// The YAML subset the test guest reads (scripts/guest/README.md), run with the guest's own awk programs under
// the busybox it is built from: a platform document merged with a user's, lists in every style it accepts.
// test/system/guest.test.ts proves the same files inside real guests.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { seedDocuments } from '../../src/compute/seed.ts';

const execFileP = promisify(execFile);
const GUEST_SRC = fileURLToPath(new URL('../../scripts/guest/', import.meta.url));

/** Runs the guest's cloud-config reader on meta-data and user-data; answers the files it wrote. */
async function readCloudConfig(userData: string, metaData = ''): Promise<Record<string, string>> {
  const dir = await mkdtemp(join(tmpdir(), 'kloudak-cc-'));
  try {
    const out = join(dir, 'out');
    await mkdir(join(out, 'runcmd'), { recursive: true });
    await mkdir(join(out, 'bootcmd'));
    await writeFile(join(dir, 'meta-data'), metaData);
    await writeFile(join(dir, 'user-data'), userData);
    await execFileP(
      '/bin/busybox',
      [
        'awk',
        '-v',
        `out=${out}`,
        '-f',
        join(GUEST_SRC, 'yaml.awk'),
        '-f',
        join(GUEST_SRC, 'cloud-config.awk'),
        join(dir, 'meta-data'),
        join(dir, 'user-data'),
      ],
      { timeout: 10_000 },
    );
    const files: Record<string, string> = {};
    for (const sub of ['', 'runcmd', 'bootcmd'])
      for (const e of await readdir(join(out, sub), { withFileTypes: true }))
        if (e.isFile())
          files[sub ? `${sub}/${e.name}` : e.name] = await readFile(join(out, sub, e.name), 'utf8');
    return files;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

void describe('the YAML subset the guest reads', () => {
  void test('a merged #cloud-config: the platform keys are read, a user part it does not know is skipped', async () => {
    const got = await readCloudConfig(
      `#cloud-config
hostname: "web-1"   # wins over local-hostname
password: 'it''s "secret"'
chpasswd: { expire: false }
ssh_pwauth: false
users:
  - name: alice
    ssh_authorized_keys:
      - ssh-rsa AAAAnested alice@x
    groups: [adm, "sudo"]
  - default
write_files:
- path: /etc/motd
  content: |
    runcmd:
      - echo NOT-A-COMMAND
    hostname: not-me
packages: [curl, "vim"]
apt: {sources: {x: {source: "deb http://example.invalid x main"}}}
ssh_authorized_keys:
  - ssh-ed25519 AAAAone one@host
  - "ssh-ed25519 AAAAtwo two@host"   # a comment
final_message: |
  runcmd: [echo NOT-A-COMMAND-EITHER]
`,
      'instance-id: i-1\nlocal-hostname: meta-name\npublic-keys:\n  - ssh-rsa AAAAmeta meta@x\n',
    );
    assert.deepEqual(got, {
      hostname: 'web-1\n',
      password: `it's "secret"`,
      ssh_pwauth: 'false\n',
      ssh_authorized_keys:
        'ssh-rsa AAAAmeta meta@x\nssh-ed25519 AAAAone one@host\nssh-ed25519 AAAAtwo two@host\n',
    });
  });

  void test('lists in block and flow style, quoted or plain, list commands and block scalars', async () => {
    const got = await readCloudConfig(`#cloud-config
bootcmd: [ "echo boot one", echo boot two,
   [sh, -c, "echo it's"] ]   # a flow list over lines
runcmd:
- echo plain   # a comment
- 'echo single ''quoted'''
- "echo \\"double\\" \\\\ done"
- [ls, -l, /tmp dir]
- |
  echo line1
  if true; then
    echo line2
  fi
- >
  echo folded
  words
- {mapping: skipped}
ssh_authorized_keys: ['ssh-ed25519 AAAAflow flow@x', ssh-rsa AAAAplain plain@x]
ssh_pwauth: yes
`);
    assert.deepEqual(got, {
      'bootcmd/001': 'echo boot one\n',
      'bootcmd/002': 'echo boot two\n',
      'bootcmd/003': "sh -c 'echo it'\\''s'\n",
      'runcmd/001': 'echo plain\n',
      'runcmd/002': "echo single 'quoted'\n",
      'runcmd/003': 'echo "double" \\ done\n',
      'runcmd/004': "ls -l '/tmp dir'\n",
      'runcmd/005': 'echo line1\nif true; then\n  echo line2\nfi\n',
      'runcmd/006': 'echo folded words\n',
      ssh_authorized_keys: 'ssh-ed25519 AAAAflow flow@x\nssh-rsa AAAAplain plain@x\n',
      ssh_pwauth: 'true\n',
    });
  });

  void test('a key given twice keeps its last list; local-hostname when there is no hostname', async () => {
    const got = await readCloudConfig(
      'runcmd:\n  - echo first\nruncmd: [echo second]\nssh_pwauth: "maybe"\n',
      'local-hostname: "meta-name"\n',
    );
    assert.deepEqual(got, { hostname: 'meta-name\n', 'runcmd/001': 'echo second\n', ssh_pwauth: 'false\n' });
  });

  void test('the seed compute writes: a user document merged with the platform keys reads as meant', async () => {
    const key1 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHd8Fq4JzQ0yQp6aV3h7b2mYJX5d1n0X4oQdYb3y3y3y me@x';
    const key2 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGd8Fq4JzQ0yQp6aV3h7b2mYJX5d1n0X4oQdYb3y3y3y them # x';
    const userData = `#cloud-config
hostname: not-the-vm
fqdn: not.the.vm
ssh_pwauth: true
ssh_authorized_keys: ["${key2}"]
write_files:
  - path: /etc/motd
    content: |
      runcmd: [echo NOT-A-COMMAND]
runcmd:
  - echo "user's" first
  - |
    echo two
    echo lines
`;
    const platform = { instanceId: 'i', nics: [], hostname: 'web-1', sshKeys: [key1] };
    // No password anywhere: no password login, whatever the user's document says about ssh_pwauth.
    const noPw = await readCloudConfig(seedDocuments({ ...platform, userData })['user-data']);
    assert.deepEqual(noPw, {
      hostname: 'web-1\n',
      ssh_pwauth: 'false\n',
      ssh_authorized_keys: `${key1}\n${key2}\n`,
      'runcmd/001': `echo "user's" first\n`,
      'runcmd/002': 'echo two\necho lines\n',
    });
    // A password with the request: set, and SSH passwords on; the request's runcmd after the user's.
    const withPw = await readCloudConfig(
      seedDocuments({ ...platform, userData, password: `it's "x" \\`, runcmd: ['echo platform'] })[
        'user-data'
      ],
    );
    assert.equal(withPw.password, `it's "x" \\`);
    assert.equal(withPw.ssh_pwauth, 'true\n');
    assert.equal(withPw['runcmd/003'], 'echo platform\n');
    // A key and no password, no word from the user: password SSH is off.
    const keyOnly = await readCloudConfig(seedDocuments(platform)['user-data']);
    assert.deepEqual(keyOnly, {
      hostname: 'web-1\n',
      ssh_pwauth: 'false\n',
      ssh_authorized_keys: `${key1}\n`,
    });
  });
});
