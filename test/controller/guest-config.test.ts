// Issue 15 item 3: users keep SSH public keys in inventory (/keys/: add, list with fingerprints, delete; bad
// keys refused), and POST /vms/ takes ssh_keys (names of the caller's keys) and user_data (#cloud-config):
// what reaches compute is the keys' lines and the document; unknown key names, oversized, header-less and
// non-YAML user-data are 400s naming the field with nothing written. On both backends and buses.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { uniqueName } from '../support/env.ts';
import { startPlatform, type BusKind, type TestPlatform } from '../support/platform.ts';
import type { Backend } from '../support/inventory.ts';
import { newTenant } from '../support/tenants.ts';
import { scriptedWorker } from '../support/workers.ts';

const execFileP = promisify(execFile);
const COMBOS: [Backend, BusKind][] = [
  ['postgres', 'amqp'],
  ['pglite', 'memory'],
];

/** A fresh ed25519 key pair from ssh-keygen: its public line and the fingerprint ssh-keygen -l prints. */
async function newKey(comment: string) {
  const dir = await mkdtemp(join(tmpdir(), 'kloudak-keys-'));
  try {
    const f = join(dir, 'id');
    await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', f]);
    const pub = (await readFile(`${f}.pub`, 'utf8')).trim();
    const l = (await execFileP('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${f}.pub`])).stdout;
    return { pub, fingerprint: l.split(' ')[1] };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

for (const [backend, busKind] of COMBOS) {
  describe(`SSH keys and user-data on ${backend} with the ${busKind} bus`, () => {
    let p: TestPlatform;
    let admin: string;

    before(async () => {
      p = await startPlatform(backend, busKind);
      admin = await p.inv.adminToken();
      await p.inv.call('POST', '/templates/', admin, { name: 'tiny', cpu: 1, ram: 0.125, disk: 1 });
    });
    after(async () => p?.close());

    const workspace = () => newTenant(p, admin);

    test("keys: added, listed with ssh-keygen's fingerprint, each user's own, deleted; bad ones refused", async () => {
      const { token, user } = await workspace();
      const k = await newKey('me@laptop');
      const add = await p.inv.call('POST', '/keys/', token, { name: 'laptop', public_key: `${k.pub}\n` });
      assert.equal(add.status, 201, JSON.stringify(add.body));
      assert.equal(add.body.fingerprint, k.fingerprint);
      assert.equal(add.body.type, 'ssh-ed25519');
      assert.equal(add.body.public_key, k.pub);
      assert.equal(add.body.comment, 'me@laptop');
      const list = await p.inv.call('GET', '/keys/', token);
      assert.deepEqual(
        list.body.keys.map((x: { name: string; fingerprint: string }) => [x.name, x.fingerprint]),
        [['laptop', k.fingerprint]],
      );
      const bad: [unknown, number, string][] = [
        [{ name: 'laptop', public_key: k.pub }, 409, 'name'],
        [{ name: 'x', public_key: 'ssh-ed25519 AAAAnotakey' }, 400, 'public_key'],
        [{ name: 'x', public_key: 'hello' }, 400, 'public_key'],
        [{ name: 'x', public_key: `${k.pub}\n${k.pub}` }, 400, 'public_key'],
        [{ name: 'bad name!', public_key: k.pub }, 400, 'name'],
        [{ name: 'x' }, 400, 'public_key'],
      ];
      for (const [body, status, field] of bad) {
        const r = await p.inv.call('POST', '/keys/', token, body);
        assert.equal(r.status, status, JSON.stringify([body, r.body]));
        assert.equal(r.body.field, field, JSON.stringify(r.body));
      }
      // Another user sees none of them, and may not ask for them by name; an admin may.
      const other = await p.inv.user(uniqueName('o'));
      assert.deepEqual((await p.inv.call('GET', '/keys/', other)).body.keys, []);
      const theirs = await p.inv.call('GET', `/keys/?user=${user}`, other);
      assert.equal(theirs.status, 403);
      assert.equal((await p.inv.call('GET', `/keys/?user=${user}`, admin)).body.keys.length, 1);
      assert.equal((await p.inv.call('DELETE', '/keys/laptop/', other)).status, 404);
      assert.equal((await p.inv.call('GET', '/keys/', undefined)).status, 401);
      const del = await p.inv.call('DELETE', '/keys/laptop/', token);
      assert.equal(del.status, 200);
      assert.deepEqual((await p.inv.call('GET', '/keys/', token)).body.keys, []);
      assert.equal((await p.inv.call('DELETE', '/keys/laptop/', token)).status, 404);
    });

    test('POST /vms/: the named keys and the user-data reach compute; bad ones are 400s, nothing written', async () => {
      const { ws, token, area } = await workspace();
      const k1 = await newKey('one@x');
      const k2 = await newKey('two@x');
      for (const [name, k] of [
        ['one', k1],
        ['two', k2],
      ] as const)
        assert.equal((await p.inv.call('POST', '/keys/', token, { name, public_key: k.pub })).status, 201);
      const base = { owner: ws, area, template: 'tiny' };
      const cases: [Record<string, unknown>, string, RegExp][] = [
        [{ ssh_keys: ['one', 'nope'] }, 'ssh_keys', /no key named nope/],
        [{ ssh_keys: ['bad name!'] }, 'ssh_keys.0', /./],
        [{ user_data: `#cloud-config\nx: "${'a'.repeat(17000)}"\n` }, 'user_data', /./],
        [{ user_data: `#cloud-config\nx: "${'é'.repeat(9000)}"\n` }, 'user_data', /bytes/],
        [{ user_data: '#cloud-config\nruncmd: [unclosed\n' }, 'user_data', /not valid YAML/],
        [{ user_data: '#cloud-config\n: : :\n  - {\n' }, 'user_data', /not valid YAML/],
        [{ user_data: 'runcmd: [echo hi]\n' }, 'user_data', /#cloud-config/],
        [{ user_data: '#cloud-config\nssh_authorized_keys: [nope]\n' }, 'user_data.ssh_authorized_keys', /./],
      ];
      for (const [extra, field, re] of cases) {
        const r = await p.call('POST', '/vms/', token, { ...base, name: uniqueName('vm'), ...extra });
        assert.equal(r.status, 400, JSON.stringify([extra, r.body]).slice(0, 300));
        assert.equal(r.body.field, field, JSON.stringify(r.body));
        assert.match(r.body.error, re);
      }
      assert.deepEqual((await p.inv.call('GET', `/${ws}/vms/`, token)).body.vms, [], 'nothing written');
      assert.deepEqual((await p.call('GET', `/tasks/${ws}/`, token)).body.tasks, []);

      const worker = await scriptedWorker(p.bus, 'vm', ws, () => ({ status: 'successful', host: 'h1' }));
      try {
        const userData = '#cloud-config\npackages: [curl]\nruncmd:\n  - echo hi\n';
        const r = await p.call('POST', '/vms/', token, {
          ...base,
          name: uniqueName('vm'),
          ssh_keys: ['two', 'one'],
          user_data: userData,
        });
        assert.equal(r.status, 202, JSON.stringify(r.body));
        const t = await p.call('GET', `/task/${r.body.task_id}/?wait=30`, token);
        assert.equal(t.body.status, 'successful', JSON.stringify(t.body));
        const [m] = worker.received;
        assert.deepEqual(m.ssh_keys, [k2.pub, k1.pub]);
        assert.equal(m.user_data, userData);
        assert.equal(m.password, undefined, 'no password given, none sent');
      } finally {
        await worker.stop();
      }
    });
  });
}
