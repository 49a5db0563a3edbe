import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { checkUserData, mergeUserData, USER_DATA_MAX_BYTES } from './cloud-config.ts';
import { AppError } from './errors.ts';

const refused = (text: string, field: string, re: RegExp) =>
  assert.throws(
    () => checkUserData(text),
    (e: unknown) => e instanceof AppError && e.kind === 'input' && e.field === field && re.test(e.message),
    text.slice(0, 60),
  );

test('user-data: refused when too big, without its header, not YAML, not a mapping or with bad keys', () => {
  refused(`#cloud-config\nx: "${'a'.repeat(USER_DATA_MAX_BYTES)}"\n`, 'user_data', /bytes; at most 16384/);
  refused('#!/bin/sh\necho hi\n', 'user_data', /#cloud-config/);
  refused('#cloud-config\nruncmd: [unclosed\n', 'user_data', /not valid YAML/);
  refused('#cloud-config\na: 1\na: 2\n', 'user_data', /not valid YAML/);
  refused('#cloud-config\n- a list\n', 'user_data', /mapping/);
  refused('#cloud-config\na: &x [*x, *x]\n', 'user_data', /not valid YAML/);
  refused('#cloud-config\nssh_authorized_keys: [not a key]\n', 'user_data.ssh_authorized_keys', /\[0\]/);
  refused('#cloud-config\nssh_authorized_keys: a-string\n', 'user_data.ssh_authorized_keys', /list/);
  assert.deepEqual(checkUserData('#cloud-config\n'), {});
  assert.deepEqual(checkUserData('#cloud-config\npackages: [curl]\n'), { packages: ['curl'] });
});

test('merge: the platform keys win, everything else of the user stays', () => {
  const out = mergeUserData(
    { hostname: 'vm1', password: 'pw', sshKeys: ['ssh-ed25519 AAAA k'] },
    '#cloud-config\nhostname: other\nnetwork: {config: disabled}\npassword: mine\nssh_pwauth: false\npackages: [curl]\n',
  );
  assert.ok(out.startsWith('#cloud-config\n'));
  assert.deepEqual(parse(out), {
    hostname: 'vm1',
    password: 'pw',
    chpasswd: { expire: false },
    ssh_pwauth: true,
    ssh_authorized_keys: ['ssh-ed25519 AAAA k'],
    packages: ['curl'],
  });
  // The user's own password, asked for: kept.
  assert.deepEqual(
    parse(mergeUserData({ hostname: 'v' }, '#cloud-config\npassword: x\nssh_pwauth: true\n')),
    {
      hostname: 'v',
      password: 'x',
      ssh_pwauth: true,
    },
  );
});
