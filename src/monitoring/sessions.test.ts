// Long-lived virsh sessions against libvirt's test:///default driver (a real virsh, no hosts): a host's
// figures in one batch, hosts sharing a session past the cap, a refused URI, a failed connect that sends no
// command to the default URI, and a call that hangs ends its shell without harming the next call.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { createVirshProbe } from './probe.ts';
import { createVirshSessions } from './sessions.ts';

const noShell = { run: async () => Promise.reject(new Error('no pools here')) };
// libvirt's test driver, which the platform's URI rule (qemu+ssh/qemu+libssh only) refuses by design: the
// sessions' own word check is what these tests prove.
const TEST_DRIVER = { checkUri: () => undefined };
const servers: Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

test('figures in one batch on a kept-open session; past the cap hosts share sessions and have no heartbeat', async () => {
  const sessions = createVirshSessions({ max: 2 });
  const probe = createVirshProbe(noShell, sessions, TEST_DRIVER);
  try {
    const f = await probe.host('test:///default?h=1', 10_000);
    assert.equal(f.cpus, 16);
    assert.equal(f.memoryMib, 3072);
    assert.deepEqual(
      f.domains.map((d) => d.name),
      ['test'],
    );
    assert.equal(await probe.heartbeat!('test:///default?h=1', 5000), true, 'its own session: heartbeats');
    for (let i = 2; i <= 4; i++) assert.equal((await probe.host(`test:///default?h=${i}`, 10_000)).cpus, 16);
    const st = sessions.stats();
    assert.equal(st.sessions, 2, 'no more shells than the cap');
    assert.equal(st.hosts, 4);
    assert.ok(st.rssKib > 0 && st.pssKib > 0 && st.pssKib <= st.rssKib, JSON.stringify(st));
    assert.equal(await probe.heartbeat!('test:///default?h=3', 5000), false, 'a shared session: none');
    sessions.release('test:///default?h=1');
    assert.equal(sessions.stats().hosts, 3);
  } finally {
    await probe.close!();
  }
});

test('a URI virsh would read as more than one word is refused; a failed connect sends nothing further', async () => {
  const sessions = createVirshSessions({ max: 1 });
  const probe = createVirshProbe(noShell, sessions, TEST_DRIVER);
  try {
    await assert.rejects(probe.host("test:///default' ; quit", 5000), /URI refused/);
    // Nothing listens there: the connect fails, and no batch goes to virsh's default URI instead.
    await assert.rejects(probe.host('qemu+tcp://127.0.0.1:1/system', 5000), /unreachable|ECONNREFUSED/);
    await assert.rejects(
      sessions.run('test:///nonexistent-file.xml', ['hostname'], 5000),
      /connect|No such/i,
    );
    assert.equal((await probe.host('test:///default', 10_000)).cpus, 16, 'the session still serves');
  } finally {
    await probe.close!();
  }
});

test('a call that hangs times out, ends its shell, and the next call runs on a fresh one', async () => {
  // Accepts the connection and never answers libvirt's protocol: the connect hangs.
  const server = createServer(() => undefined);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const sessions = createVirshSessions({ max: 1 });
  try {
    const t0 = Date.now();
    await assert.rejects(
      sessions.run(`qemu+tcp://127.0.0.1:${port}/system`, ['hostname'], 1500),
      /timed out/,
    );
    assert.ok(Date.now() - t0 < 5000);
    assert.match(await sessions.run('test:///default', ['hostname'], 10_000), /\S/);
  } finally {
    await sessions.close();
  }
});
