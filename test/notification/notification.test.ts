// Notification service against real websocket clients: two instances sharing the test Redis, and single
// instances without Redis for the local-only behaviours (slow readers, pings, expiry, the client's retries).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { generateKeyPair, SignJWT } from 'jose';
import { WebSocket } from 'ws';
import {
  createTokenSigner,
  createTokenVerifier,
  ISSUER,
  type TokenSigner,
  type TokenVerifier,
} from '../../src/lib/auth.ts';
import { HOST_TASKS } from '../../src/lib/contracts/common.ts';
import { AppError } from '../../src/lib/errors.ts';
import { createLogger } from '../../src/lib/log.ts';
import { CLOSE, createNotifier, type Notifier } from '../../src/lib/notify.ts';
import { CHANNEL_PREFIX } from '../../src/notification/fanout.ts';
import { createNotificationService, type NotificationService } from '../../src/notification/index.ts';
import { TEST_REDIS, uniqueName } from '../support/env.ts';
import { createTestStandings, type TestStandings } from '../support/standings.ts';
import { closeClients, connect, connectRaw } from './clients.ts';

const log = createLogger('notification-test', process.env.LOG_LEVEL ?? 'silent');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let signer: TokenSigner;
let verifier: TokenVerifier;
let otherSigner: TokenSigner;
let privateKey: CryptoKey;
let standings: TestStandings;
const opened: NotificationService[] = [];
const notifiers: Notifier[] = [];

const userToken = async (...workspaces: string[]) => (await standings.user(workspaces)).token;
const serviceToken = (s = signer) =>
  s.sign({ username: 'kloudak-controller', kloudak_service: true, service: 'controller' }, 600);

async function start(
  opts: { redis?: boolean; port?: number; maxBufferedBytes?: number; pingIntervalMs?: number } = {},
) {
  const s = await createNotificationService({
    port: opts.port ?? 0,
    host: '127.0.0.1',
    auth: standings.authority,
    redisUrl: opts.redis ? TEST_REDIS : undefined,
    log,
    maxBufferedBytes: opts.maxBufferedBytes,
    pingIntervalMs: opts.pingIntervalMs,
  });
  opened.push(s);
  return s;
}

function notifierFor(port: number, token: () => Promise<string> = () => serviceToken(), extra = {}) {
  const n = createNotifier({ url: `ws://127.0.0.1:${port}`, token, log, ...extra });
  notifiers.push(n);
  return n;
}

async function metric(port: number, name: string, label = ''): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const re = new RegExp(`^${name}\\{[^}]*${label}[^}]*\\} (\\d+)`, 'm');
  return Number(re.exec(text)?.[1] ?? 0);
}

before(async () => {
  const keys = await generateKeyPair('EdDSA');
  const other = await generateKeyPair('EdDSA');
  privateKey = keys.privateKey;
  signer = createTokenSigner(keys.privateKey, 'k1');
  otherSigner = createTokenSigner(other.privateKey, 'k1');
  verifier = createTokenVerifier(keys.publicKey);
  standings = createTestStandings(signer, verifier, log);
});

after(async () => {
  closeClients();
  await Promise.all(notifiers.map((n) => n.close()));
  await Promise.all(opened.map((s) => s.close()));
  standings.close();
});

void describe('two instances sharing redis', () => {
  let a: NotificationService;
  let b: NotificationService;
  let viaA: Notifier;
  before(async () => {
    a = await start({ redis: true });
    b = await start({ redis: true });
    viaA = notifierFor(a.port);
  });

  void test('a client on B receives what was sent through A, and so does a client on A', async () => {
    const x = uniqueName('ws');
    const token = await userToken(x);
    const onB = await connect(b.port, x, token);
    const onA = await connect(a.port, x, token);
    await viaA.send(x, { task: 1, status: 'successful' });
    await viaA.send(x, { task: 2, status: 'failed' });
    assert.deepEqual(
      (await onB.waitFor(2)).map((m) => JSON.parse(m)),
      [
        { task: 1, status: 'successful' },
        { task: 2, status: 'failed' },
      ],
    );
    assert.deepEqual(await onA.waitFor(2), onB.received);
    await sleep(100);
    assert.equal(onA.received.length, 2, 'the sending instance does not deliver its own publish twice');
  });

  void test("a client of workspace X never receives workspace Y's messages", async () => {
    const x = uniqueName('ws');
    const y = uniqueName('ws');
    const xa = await connect(a.port, x, await userToken(x));
    const xb = await connect(b.port, x, await userToken(x));
    const yb = await connect(b.port, y, await userToken(y));
    const both = await connect(b.port, y, await userToken(x, y));
    await viaA.send(y, { for: 'y' });
    await yb.waitFor(1);
    await both.waitFor(1);
    // A marker sent to X after Y's message was delivered: X's members must hold the marker alone.
    await viaA.send(x, { for: 'x' });
    assert.deepEqual(await xa.waitFor(1), ['{"for":"x"}']);
    assert.deepEqual(await xb.waitFor(1), ['{"for":"x"}']);
    assert.deepEqual(both.received, ['{"for":"y"}']);
    assert.deepEqual(yb.received, ['{"for":"y"}']);
  });

  void test('a user token cannot send: it is closed with 4403 and its message reaches nobody', async () => {
    const x = uniqueName('ws');
    const listener = await connect(b.port, x, await userToken(x));
    const local = await connect(a.port, x, await userToken(x));
    const sender = await connect(a.port, x, await userToken(x));
    sender.ws.send(JSON.stringify({ forged: true }));
    assert.deepEqual(await sender.closed, { code: CLOSE.notAllowed, reason: 'only service tokens may send' });
    await viaA.send(x, { marker: true });
    assert.deepEqual(await listener.waitFor(1), ['{"marker":true}']);
    assert.deepEqual(await local.waitFor(1), ['{"marker":true}']);
    // Nor may a user open a send-only link, nor the notifier send with a user token.
    const link = await connect(a.port, x, await userToken(x), { sendOnly: true });
    assert.equal((await link.closed).code, CLOSE.notAllowed);
    const userNotifier = notifierFor(a.port, () => userToken(x));
    await assert.rejects(userNotifier.send(x, { forged: true }), (e: AppError) => {
      assert.equal(e.kind, 'unavailable');
      assert.match(e.message, /only service tokens may send/);
      return true;
    });
    await sleep(100);
    assert.equal(listener.received.length, 1);
  });

  void test('a service without the notify right (monitoring) neither sends nor listens (issue 14.9)', async () => {
    const x = uniqueName('ws');
    const monitoring = () =>
      signer.sign({ username: 'kloudak-monitoring', kloudak_service: true, service: 'monitoring' }, 600);
    const link = await connect(a.port, x, await monitoring(), { sendOnly: true });
    assert.equal((await link.closed).code, CLOSE.notAllowed);
    const member = await connect(a.port, x, await monitoring());
    assert.equal((await member.closed).code, CLOSE.notAllowed);
  });

  void test('a service member connection sends to the room, on every instance, without an echo', async () => {
    const x = uniqueName('ws');
    const service = await connect(a.port, x, await serviceToken());
    const user = await connect(b.port, x, await userToken(x));
    service.ws.send('{"from":"service"}');
    assert.deepEqual(await user.waitFor(1), ['{"from":"service"}']);
    await viaA.send(x, { from: 'notifier' });
    assert.deepEqual(await service.waitFor(1), ['{"from":"notifier"}']);
    // Text that is not JSON is refused.
    service.ws.send('not json');
    assert.equal((await service.closed).code, CLOSE.badMessage);
  });

  void test('a send-only link is acknowledged per message and refuses text that is not JSON', async () => {
    const x = uniqueName('ws');
    const user = await connect(b.port, x, await userToken(x));
    const link = await connect(a.port, x, await serviceToken(), { sendOnly: true });
    link.ws.send('{"n":1}');
    link.ws.send('nope');
    link.ws.send('{"n":2}');
    assert.deepEqual(await link.waitFor(3), [
      '{"ack":1}',
      '{"error":"message is not JSON text","seq":2}',
      '{"ack":3}',
    ]);
    assert.deepEqual(await user.waitFor(2), ['{"n":1}', '{"n":2}']);
  });

  void test('a user is refused a room of a workspace not in its token', async () => {
    const x = uniqueName('ws');
    const c = await connect(a.port, x, await userToken(uniqueName('ws')));
    assert.deepEqual(await c.closed, { code: CLOSE.notAllowed, reason: `not a member of workspace ${x}` });
  });

  void test('bad, expired and wrong-key tokens are refused with 4401; unknown paths with 4404', async () => {
    const x = uniqueName('ws');
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({ username: 'old', [x]: { vm_can_add: true } })
      .setProtectedHeader({ alg: 'EdDSA', kid: 'k1' })
      .setIssuer(ISSUER)
      .setIssuedAt(now - 120)
      .setExpirationTime(now - 60)
      .sign(privateKey);
    const wrongKey = await otherSigner.sign({ username: 'mallory', [x]: { vm_can_add: true } }, 600);
    const wrongKeyService = await serviceToken(otherSigner);
    for (const token of ['garbage', 'a.b.c', expired, wrongKey, wrongKeyService]) {
      const c = await connect(b.port, x, token);
      assert.deepEqual(await c.closed, { code: CLOSE.unauthenticated, reason: 'invalid or expired token' });
    }
    const good = await userToken(x);
    for (const path of ['/', `/${x}`, `/${x}/${good}/extra`, `/${encodeURIComponent('bad name!')}/${good}`]) {
      const c = await connectRaw(b.port, path);
      assert.equal((await c.closed).code, CLOSE.notFound, path);
    }
  });

  void test('an instance resubscribes when redis drops its connection; an empty room is unsubscribed', async () => {
    const redis = new Redis(TEST_REDIS);
    try {
      const x = uniqueName('ws');
      const channel = CHANNEL_PREFIX + x;
      const subscribers = async () => ((await redis.pubsub('NUMSUB', channel)) as [string, number])[1];
      const onB = await connect(b.port, x, await userToken(x));
      assert.equal(await subscribers(), 1);
      // Kill only B's subscriber connection: the Redis server is shared with other tests.
      const list = await redis.client('LIST');
      const id = new RegExp(`^id=(\\d+) .*name=kloudak-notification-sub-${b.instanceId}`, 'm').exec(
        String(list),
      )?.[1];
      assert.ok(id, 'subscriber connection found');
      await redis.client('KILL', 'ID', id);
      const end = Date.now() + 10_000;
      while ((await subscribers()) === 0) {
        assert.ok(Date.now() < end, 'B never resubscribed');
        await sleep(50);
      }
      await viaA.send(x, { after: 'reconnect' });
      assert.deepEqual(await onB.waitFor(1), ['{"after":"reconnect"}']);
      onB.ws.close();
      await onB.closed;
      while ((await subscribers()) !== 0) {
        assert.ok(Date.now() < end, 'B kept the subscription of an empty room');
        await sleep(50);
      }
    } finally {
      redis.disconnect();
    }
  });

  void test('/healthz and /metrics answer on the notification port', async () => {
    const h = await fetch(`http://127.0.0.1:${a.port}/healthz`);
    assert.equal(h.status, 200);
    assert.deepEqual(await h.json(), { status: 'ok', service: 'notification' });
    assert.ok((await metric(a.port, 'kloudak_notification_messages_total', 'origin="local"')) > 0);
    assert.ok((await metric(b.port, 'kloudak_notification_messages_total', 'origin="remote"')) > 0);
    assert.ok((await metric(b.port, 'kloudak_notification_rejected_total', 'code="4401"')) >= 5);
  });
});

void describe('one instance without redis', () => {
  void test('delivers to the local room', async () => {
    const s = await start();
    const x = uniqueName('ws');
    const c1 = await connect(s.port, x, await userToken(x));
    const c2 = await connect(s.port, x, await userToken(x));
    await notifierFor(s.port).send(x, { hello: 'room' });
    assert.deepEqual(await c1.waitFor(1), ['{"hello":"room"}']);
    assert.deepEqual(await c2.waitFor(1), ['{"hello":"room"}']);
  });

  void test('a client that never reads is dropped and never stops the others from receiving', async () => {
    const s = await start({ maxBufferedBytes: 256 * 1024 });
    const x = uniqueName('ws');
    const slow = await connect(s.port, x, await userToken(x));
    const fast = await connect(s.port, x, await userToken(x));
    const fast2 = await connect(s.port, x, await userToken(x));
    slow.ws.pause();
    const link = await connect(s.port, x, await serviceToken(), { sendOnly: true });
    const body = 'x'.repeat(64 * 1024);
    let sent = 0;
    // The kernel buffers several MB of a paused reader before ws queues anything, so send until it is dropped.
    while ((await metric(s.port, 'kloudak_notification_dropped_total', 'reason="slow"')) === 0) {
      assert.ok(sent < 4000, 'the slow reader was never dropped');
      for (let i = 0; i < 50; i++) link.ws.send(JSON.stringify({ n: ++sent, body }));
      await link.waitFor(sent);
    }
    assert.ok(link.received.every((f) => f.startsWith('{"ack":')));
    await fast.waitFor(sent, 20_000);
    await fast2.waitFor(sent, 20_000);
    assert.equal(JSON.parse(fast.received[sent - 1]).n, sent);
    assert.ok(slow.received.length < sent);
  });

  void test('a client that misses a pong is dropped; one that answers stays', async () => {
    const s = await start({ pingIntervalMs: 150 });
    const x = uniqueName('ws');
    const mute = await connect(s.port, x, await userToken(x), { autoPong: false });
    const alive = await connect(s.port, x, await userToken(x));
    const { code } = await mute.closed;
    assert.equal(code, 1006, 'terminated without a close frame');
    await sleep(400);
    assert.equal(alive.ws.readyState, WebSocket.OPEN);
    assert.equal(await metric(s.port, 'kloudak_notification_dropped_total', 'reason="no_pong"'), 1);
    await notifierFor(s.port).send(x, { still: 'here' });
    assert.deepEqual(await alive.waitFor(1), ['{"still":"here"}']);
  });

  void test('a connection is closed with 4401 when its token expires', async () => {
    const s = await start();
    const x = uniqueName('ws');
    // exp has whole seconds: a 2 s lifetime leaves at least 1 s to connect.
    const c = await connect(s.port, x, (await standings.user([x], { ttl: 2 })).token);
    assert.deepEqual(await c.closed, { code: CLOSE.unauthenticated, reason: 'token expired' });
  });

  void test('a member who loses access is closed within seconds: 4403 when removed, 4401 when revoked', async () => {
    const s = await start();
    const x = uniqueName('ws');
    const [removed, revoked, renamed, stays] = await Promise.all([1, 2, 3, 4].map(() => standings.user([x])));
    const [c1, c2, c3, c4] = await Promise.all(
      [removed, revoked, renamed, stays].map((u) => connect(s.port, x, u.token)),
    );
    standings.change(removed.uid, (st) => void (st.workspaces = []));
    standings.revoke(revoked.uid);
    // The room's workspace renamed, and another one made under its old name: still not this room.
    standings.change(renamed.uid, (st) => void (st.workspaces = [{ ...st.workspaces[0], id: 9999 }]));
    assert.deepEqual(await c1.closed, {
      code: CLOSE.notAllowed,
      reason: `no longer a member of workspace ${x}`,
    });
    assert.deepEqual(await c2.closed, { code: CLOSE.unauthenticated, reason: 'token revoked' });
    assert.equal((await c3.closed).code, CLOSE.notAllowed);
    await notifierFor(s.port).send(x, { after: 'changes' });
    assert.deepEqual(await c4.waitFor(1), ['{"after":"changes"}']);
  });

  void test("the hosts' room (issue 18.4) admits admins only, and closes one who stops being an admin", async () => {
    const s = await start();
    const admin = await standings.user([], { admin: true });
    const other = await standings.user([], { admin: true });
    // A member of a workspace that took the room's name (inventory refuses it now) is still not admitted.
    const member = await standings.user([HOST_TASKS]);
    const [a1, a2] = await Promise.all([admin, other].map((u) => connect(s.port, HOST_TASKS, u.token)));
    const m = await connect(s.port, HOST_TASKS, member.token);
    assert.equal((await m.closed).code, CLOSE.notAllowed);
    await notifierFor(s.port).send(HOST_TASKS, { kind: 'task', type: 'host', object: 'kvm-1' });
    assert.deepEqual(
      (await a1.waitFor(1)).map((x) => JSON.parse(x)),
      [{ kind: 'task', type: 'host', object: 'kvm-1' }],
    );
    standings.change(other.uid, (st) => void (st.admin = false));
    assert.equal((await a2.closed).code, CLOSE.notAllowed);
    assert.equal(a1.ws.readyState, WebSocket.OPEN);
  });

  void test('the notifier reconnects after a restart, and throws unavailable when nobody listens', async () => {
    const first = await start();
    const port = first.port;
    const x = uniqueName('ws');
    const n = notifierFor(port, undefined, { timeoutMs: 1000, retries: 4 });
    await n.send(x, { before: 'restart' });
    await first.close();
    const second = await start({ port });
    const c = await connect(port, x, await userToken(x));
    await n.send(x, { after: 'restart' });
    assert.deepEqual(await c.waitFor(1), ['{"after":"restart"}']);
    await second.close();
    const t0 = Date.now();
    await assert.rejects(
      n.send(x, { lost: true }),
      (e: AppError) => e instanceof AppError && e.kind === 'unavailable',
    );
    assert.ok(Date.now() - t0 < 10_000);
  });

  void test('concurrent sends share one link and arrive in order', async () => {
    const s = await start();
    const x = uniqueName('ws');
    const c = await connect(s.port, x, await userToken(x));
    const n = notifierFor(s.port);
    await Promise.all(Array.from({ length: 20 }, (_, i) => n.send(x, { i })));
    const got = (await c.waitFor(20)).map((m) => (JSON.parse(m) as { i: number }).i);
    assert.deepEqual(
      got,
      Array.from({ length: 20 }, (_, i) => i),
    );
    assert.equal(await metric(s.port, 'kloudak_notification_connections', 'kind="sender"'), 1);
  });
});
