// One contract, two buses: the same suite runs on the in-process bus and on a real RabbitMQ, so code written
// against Bus behaves the same on either. Queue names are unique per run and deleted afterwards.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { connect, type GetMessage } from 'amqplib';
import { createAmqpBus } from '../../src/lib/bus/amqp.ts';
import { MalformedMessage, type Bus, type Delivery } from '../../src/lib/bus/bus.ts';
import { createMemoryBus } from '../../src/lib/bus/memory.ts';
import { AppError, inputError } from '../../src/lib/errors.ts';
import { createLogger } from '../../src/lib/log.ts';
import { TEST_AMQP, uniqueName } from '../support/env.ts';

type TestBus = Bus & { publishRaw(queue: string, content: string): Promise<void> };
const log = createLogger('bus-test', process.env.LOG_LEVEL ?? 'silent');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

const impls: { name: string; open: () => Promise<TestBus>; drop: (queues: string[]) => Promise<void> }[] = [
  {
    name: 'memory',
    open: () => createMemoryBus({ log, redeliveryDelayMs: 50 }),
    drop: async () => undefined,
  },
  {
    name: 'amqp',
    open: () => createAmqpBus({ url: TEST_AMQP, log, redeliveryDelayMs: 50, timeoutMs: 5000 }),
    drop: async (queues) => {
      const c = await connect(TEST_AMQP);
      const ch = await c.createChannel();
      for (const q of queues) await ch.deleteQueue(q);
      await c.close();
    },
  },
];

for (const impl of impls) {
  void describe(`bus contract: ${impl.name}`, { timeout: 60_000 }, () => {
    const buses: TestBus[] = [];
    const queues: string[] = [];
    const open = async () => {
      const b = await impl.open();
      buses.push(b);
      return b;
    };
    const queue = () => {
      const q = uniqueName('bus');
      queues.push(q, `${q}.dead`, `${q}.dead.dead`); // consuming .dead declares its own dead queue
      return q;
    };
    after(async () => {
      for (const b of buses) await b.close();
      await impl.drop(queues);
    });

    void test('each message is delivered once, to one of two consumers', async () => {
      const bus = await open();
      const q = queue();
      const seen: { who: string; n: unknown }[] = [];
      const handler = (who: string) => async (d: Delivery) => {
        seen.push({ who, n: d.body.n });
        await sleep(5);
      };
      const a = await bus.consume(q, handler('a'));
      const b = await bus.consume(q, handler('b'));
      for (let n = 0; n < 20; n++) await bus.publish(q, { n });
      await waitFor('20 deliveries', () => seen.length >= 20);
      await sleep(200); // a duplicate would show up here
      assert.equal(seen.length, 20);
      assert.deepEqual(new Set(seen.map((s) => s.n)).size, 20);
      assert.ok(seen.some((s) => s.who === 'a') && seen.some((s) => s.who === 'b'), 'both consumers worked');
      assert.equal(await bus.depth(q), 0);
      await a.cancel();
      await b.cancel();
    });

    void test('messages published before any consumer wait for one', async () => {
      const bus = await open();
      const q = queue();
      for (let n = 0; n < 3; n++) await bus.publish(q, { n });
      assert.equal(await bus.depth(q), 3);
      const got: unknown[] = [];
      const c = await bus.consume(q, async (d) => void got.push(d.body.n), { prefetch: 5 });
      await waitFor('3 deliveries', () => got.length === 3);
      assert.deepEqual(got, [0, 1, 2]);
      await c.cancel();
    });

    void test('request id and message id travel with the message', async () => {
      const bus = await open();
      const q = queue();
      const got: Delivery[] = [];
      const c = await bus.consume(q, async (d) => void got.push(d));
      await bus.publish(q, { task_id: 't1' }, { requestId: 'req-42', messageId: 'msg-7' });
      await waitFor('delivery', () => got.length === 1);
      assert.deepEqual(got[0], {
        body: { task_id: 't1' },
        redelivered: false,
        requestId: 'req-42',
        messageId: 'msg-7',
        queue: q,
      });
      await c.cancel();
    });

    void test('a consumer cancelled while holding a message: another gets it, redelivered', async () => {
      const bus = await open();
      const q = queue();
      const held = gate();
      const release = gate();
      const second: Delivery[] = [];
      const a = await bus.consume(q, async () => {
        held.open();
        await release.opened; // never acks before it is cancelled
      });
      await bus.publish(q, { n: 1 }, { messageId: 'm1' });
      await held.opened;
      const b = await bus.consume(q, async (d) => void second.push(d));
      await sleep(100);
      assert.equal(second.length, 0, 'the message is held by the first consumer');
      await a.cancel();
      await waitFor('redelivery to the second consumer', () => second.length === 1);
      assert.deepEqual(second[0].body, { n: 1 });
      assert.equal(second[0].redelivered, true);
      assert.equal(second[0].messageId, 'm1');
      release.open(); // the first handler's late ack must not disturb anything
      await sleep(200);
      assert.equal(second.length, 1);
      assert.equal(await bus.depth(q), 0);
      await b.cancel();
    });

    void test('a consumer whose process dies while holding a message: another consumer gets it', async () => {
      const bus = await open();
      const doomed = await impl.open(); // its own connection, like another process
      const q = queue();
      const held = gate();
      const survivor: Delivery[] = [];
      await doomed.consume(q, async () => {
        held.open();
        await new Promise(() => undefined); // stuck forever, like a killed worker
      });
      await bus.publish(q, { n: 1 });
      await held.opened;
      await bus.consume(q, async (d) => void survivor.push(d));
      await doomed.close();
      await waitFor('delivery to the survivor', () => survivor.length === 1);
      assert.deepEqual(survivor[0].body, { n: 1 });
      assert.equal(survivor[0].redelivered, true);
    });

    void test('a handler that throws is retried until it succeeds', async () => {
      const bus = await open();
      const q = queue();
      const flags: boolean[] = [];
      const c = await bus.consume(q, async (d) => {
        flags.push(d.redelivered);
        if (flags.length < 3) throw new Error('transient');
      });
      await bus.publish(q, { n: 1 });
      await waitFor('third attempt', () => flags.length === 3);
      await sleep(200);
      assert.deepEqual(flags, [false, true, true], 'retried with redelivered set, then acked');
      assert.equal(await bus.depth(q), 0);
      await c.cancel();
    });

    void test('MalformedMessage goes to <queue>.dead once and the consumer keeps working', async () => {
      const bus = await open();
      const q = queue();
      const calls: unknown[] = [];
      const c = await bus.consume(q, async (d) => {
        calls.push(d.body);
        if (d.body.bad) throw new MalformedMessage('no task_id');
      });
      await bus.publish(q, { bad: true });
      await bus.publish(q, { n: 1 });
      await waitFor('the good message', () => calls.some((b) => (b as { n?: number }).n === 1));
      await waitFor('dead letter', async () => (await bus.depth(`${q}.dead`)) === 1);
      assert.deepEqual(calls, [{ bad: true }, { n: 1 }], 'the malformed message was not retried');
      const dead: unknown[] = [];
      const dc = await bus.consume(`${q}.dead`, async (d) => void dead.push(d.body));
      await waitFor('dead letter read', () => dead.length === 1);
      assert.deepEqual(dead, [{ bad: true }]);
      await dc.cancel();
      await c.cancel();
    });

    void test('non-JSON and non-object bodies go to <queue>.dead without reaching the handler', async () => {
      const bus = await open();
      const q = queue();
      const calls: unknown[] = [];
      const c = await bus.consume(q, async (d) => void calls.push(d.body));
      await bus.publishRaw(q, 'not json {');
      await bus.publishRaw(q, '[1, 2]');
      await bus.publish(q, { n: 1 });
      await waitFor('the good message', () => calls.length === 1);
      await waitFor('two dead letters', async () => (await bus.depth(`${q}.dead`)) === 2);
      assert.deepEqual(calls, [{ n: 1 }]);
      await bus.publish(q, { n: 2 });
      await waitFor('consumer still alive', () => calls.length === 2);
      await c.cancel();
    });

    void test('rpc round trip carries the request id', async () => {
      const bus = await open();
      const q = queue();
      const s = await bus.serveRpc(q, async (body, d) => ({
        sum: Number(body.a) + Number(body.b),
        rid: d.requestId,
      }));
      const answer = await bus.rpc(q, { a: 1, b: 2 }, { requestId: 'req-9', timeout: 5 });
      assert.deepEqual(answer, { sum: 3, rid: 'req-9' });
      await s.cancel();
    });

    void test("rpc: the server's AppError comes back with its kind, message and field", async () => {
      const bus = await open();
      const q = queue();
      const s = await bus.serveRpc(q, async (body) => {
        if (body.crash) throw new Error('boom');
        throw inputError('area', 'unknown area');
      });
      await assert.rejects(bus.rpc(q, {}, { timeout: 5 }), (e: unknown) => {
        assert.ok(e instanceof AppError);
        assert.deepEqual([e.kind, e.message, e.field], ['input', 'unknown area', 'area']);
        return true;
      });
      await assert.rejects(bus.rpc(q, { crash: true }, { timeout: 5 }), {
        name: 'AppError',
        kind: 'unavailable',
      });
      await s.cancel();
    });

    void test('rpc without a server times out as unavailable, and a late consumer never receives the request', async () => {
      const caller = await open();
      const q = queue();
      await assert.rejects(caller.rpc(q, { late: true }, { timeout: 0.3 }), (e: unknown) => {
        assert.ok(e instanceof AppError);
        assert.equal(e.kind, 'unavailable');
        return true;
      });
      // The consumer comes at once, on another connection, as a monitoring instance starting late would.
      const server = await open();
      const seen: Record<string, unknown>[] = [];
      const s = await server.serveRpc(q, async (body) => (seen.push(body), 'ok'));
      // A request whose caller still waits is served, and the queue is first in, first out: had the stale
      // request survived, the consumer would have seen it first.
      assert.equal(await caller.rpc(q, { late: false }, { timeout: 5 }), 'ok');
      assert.deepEqual(seen, [{ late: false }]);
      await s.cancel();
    });

    void test('a request whose caller gave up while the only consumer was busy is never handled', async () => {
      const bus = await open();
      const q = queue();
      const busy = gate();
      const seen: unknown[] = [];
      const s = await bus.serveRpc(q, async (body) => {
        seen.push(body.n);
        if (body.n === 1) await busy.opened;
        return body.n;
      });
      const first = bus.rpc(q, { n: 1 }, { timeout: 5 });
      await waitFor('the first request to be taken', () => seen.length === 1);
      // Prefetch 1: the second waits in the queue behind the first, and its caller gives up there.
      await assert.rejects(bus.rpc(q, { n: 2 }, { timeout: 0.3 }), { kind: 'unavailable' });
      busy.open();
      assert.equal(await first, 1);
      assert.equal(await bus.rpc(q, { n: 3 }, { timeout: 5 }), 3);
      assert.deepEqual(seen, [1, 3]);
      await s.cancel();
    });
  });
}

// Broker-side behaviour that only the RabbitMQ bus has.
void describe('amqp bus: broker faults', { timeout: 60_000 }, () => {
  const queues: string[] = [];
  after(() => impls[1].drop(queues));
  const sh = promisify(execFile);

  void test('dead letters keep the raw bytes', async () => {
    const bus = await createAmqpBus({ url: TEST_AMQP, log, timeoutMs: 5000 });
    const q = uniqueName('bus');
    queues.push(q, `${q}.dead`);
    const c = await bus.consume(q, async () => undefined);
    await bus.publishRaw(q, 'not json {');
    const raw = await connect(TEST_AMQP);
    const ch = await raw.createChannel();
    let got: GetMessage | false = false;
    for (let i = 0; i < 100 && !got; i++) {
      got = await ch.get(`${q}.dead`, { noAck: true });
      if (!got) await sleep(50);
    }
    assert.ok(got);
    assert.equal(got.content.toString(), 'not json {');
    assert.equal(got.properties.headers?.['x-dead-queue'], q);
    await raw.close();
    await c.cancel();
    await bus.close();
  });

  void test("an expiring queue (a member's own) serves rpc, then the broker deletes it once its consumer is gone", async () => {
    const bus = await createAmqpBus({ url: TEST_AMQP, log, timeoutMs: 5000 });
    const q = uniqueName('member');
    queues.push(q, `${q}.dead`);
    const server = await bus.serveRpc(q, async (body) => ({ echo: body.n }), { expiresAfter: 1000 });
    // Publisher and consumer declare the queue alike (x-expires), so neither is refused as inequivalent.
    assert.deepEqual(await bus.rpc(q, { n: 7 }, { timeout: 5, expiresAfter: 1000 }), { echo: 7 });
    await server.cancel();
    // Asked from outside: a passive declare would renew the queue's lease.
    const listed = async () =>
      (await sh('rabbitmqctl', ['-q', 'list_queues', '--no-table-headers', 'name'])).stdout
        .split('\n')
        .map((l) => l.trim());
    let left = true;
    for (let i = 0; i < 30 && left; i++) {
      await sleep(500);
      const names = await listed();
      left = names.includes(q) || names.includes(`${q}.dead`);
    }
    await bus.close();
    assert.equal(left, false, 'queue and dead-letter queue deleted by the broker');
  });

  void test('the bus reconnects and resumes consuming after the broker drops its connection', async (t) => {
    const list = () =>
      sh('rabbitmqctl', ['-q', 'list_connections', '--no-table-headers', 'pid', 'client_properties']);
    if (
      !(await list().then(
        () => true,
        () => false,
      ))
    )
      return t.skip('rabbitmqctl not usable here');
    const bus = await createAmqpBus({ url: TEST_AMQP, log, timeoutMs: 10_000 });
    const q = uniqueName('bus');
    queues.push(q, `${q}.dead`);
    const got: unknown[] = [];
    const c = await bus.consume(q, async (d) => void got.push(d.body.n));
    await bus.publish(q, { n: 1 });
    await waitFor('first delivery', () => got.length === 1);
    const line = (await list()).stdout.split('\n').find((l) => l.includes(bus.connectionName));
    assert.ok(line, 'our connection is listed');
    await sh('rabbitmqctl', ['close_connection', line.split('\t')[0], 'test: simulated broker fault']);
    await bus.publish(q, { n: 2 }); // waits for the new connection
    await waitFor('delivery after reconnect', () => got.length === 2, 10_000);
    assert.deepEqual(got, [1, 2]);
    await c.cancel();
    await bus.close();
  });
});
