// Issue 14.12: the systemd unit runs every service as the dedicated `kloudak` user with no privilege (why
// none needs root: the comment atop deploy/systemd/kloudak@.service, docs/deployment.md).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../deploy/systemd');
const units = readdirSync(DIR).filter((f) => f.endsWith('.service'));

/** The [Service] section's settings: key -> every value given (in order). */
function serviceSection(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) section = s[1];
    else if (section === 'Service') {
      const i = line.indexOf('=');
      const k = line.slice(0, i);
      out.set(k, [...(out.get(k) ?? []), line.slice(i + 1)]);
    }
  }
  return out;
}

void test('every unit runs as kloudak, never root, with no capability and private files', () => {
  assert.ok(units.length > 0, 'units found');
  for (const u of units) {
    const s = serviceSection(readFileSync(join(DIR, u), 'utf8'));
    const one = (k: string) => {
      const v = s.get(k);
      assert.equal(v?.length, 1, `${u}: ${k} given once`);
      return v?.[0] ?? '';
    };
    assert.equal(one('User'), 'kloudak', u);
    assert.equal(one('Group'), 'kloudak', u);
    assert.equal(s.has('DynamicUser'), false, `${u}: a fixed user owns /var/lib/kloudak`);
    assert.equal(one('CapabilityBoundingSet'), '', `${u}: no capability`);
    assert.equal(one('AmbientCapabilities'), '', u);
    assert.equal(one('NoNewPrivileges'), 'true', u);
    assert.equal(one('RestrictSUIDSGID'), 'true', u);
    assert.equal(one('UMask'), '0077', `${u}: files 0600, directories 0700`);
    assert.equal(one('StateDirectoryMode'), '0700', u);
    assert.equal(one('ProtectSystem'), 'strict', u);
    assert.equal(one('ProtectHome'), 'true', u);
    assert.deepEqual(s.get('ReadWritePaths'), ['/var/lib/kloudak'], `${u}: writes only its data dir`);
    assert.ok(
      s.get('EnvironmentFile')?.includes('-/etc/kloudak/%i.env'),
      `${u}: a per-service env file (the service's own key)`,
    );
  }
});

void test('the kloudak user is declared (sysusers) as a system user without a login shell', () => {
  const lines = readFileSync(join(DIR, 'kloudak.sysusers.conf'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'));
  assert.deepEqual(
    lines.map((l) => l.split(/\s+/)[0] + ' ' + l.split(/\s+/)[1]),
    ['u kloudak'],
  );
  assert.match(lines[0], /\/var\/lib\/kloudak \/usr\/sbin\/nologin$/);
});

void test('systemd accepts the unit (systemd-analyze verify)', (t) => {
  if (spawnSync('systemd-analyze', ['--version']).status !== 0) return t.skip('no systemd-analyze here');
  const dir = mkdtempSync(join(tmpdir(), 'kloudak-unit-'));
  try {
    for (const u of units) {
      // The unit as installed, its program replaced by one that exists on this machine.
      const file = join(dir, u.replace('@.service', '@inventory.service'));
      writeFileSync(
        file,
        readFileSync(join(DIR, u), 'utf8').replace('/opt/kloudak/bin/kloudak.js', process.execPath),
      );
      const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr.trim(), '', `${u}: ${r.stderr}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
