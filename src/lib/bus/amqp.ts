// The RabbitMQ bus: durable queues, persistent messages on a confirm channel, manual ack with prefetch, RPC
// over an exclusive reply queue, and reconnection with backoff so a broker restart costs a pause, not a crash.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import {
  connect,
  type Channel,
  type ChannelModel,
  type ConfirmChannel,
  type ConsumeMessage,
  type Options,
} from 'amqplib';
import { isAppError, unavailable } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { RpcReplyOf } from '../contracts/messages.ts';
import type { Bus, ConsumeOptions, Consumer, Handler, PublishOptions } from './bus.ts';

/** Durable; an expiring queue (QueueOptions.expiresAfter) gets RabbitMQ's x-expires. */
const declaration = (expiresAfter?: number): Options.AssertQueue => ({
  durable: true,
  ...(expiresAfter ? { arguments: { 'x-expires': expiresAfter } } : {}),
});
import {
  checked,
  checkedRpc,
  deliver,
  PendingCalls,
  readRpcReply,
  rpcServer,
  withTimeout,
  type Settle,
} from './delivery.ts';

export interface AmqpBus extends Bus {
  /** Puts raw bytes (as text) on a queue, as a foreign producer could. */
  publishRaw(queue: string, content: string): Promise<void>;
  /** This bus's connection as RabbitMQ lists it (client property connection_name). */
  readonly connectionName: string;
}

interface Sub {
  queue: string;
  prefetch: number;
  handlerOf: (msg: ConsumeMessage) => Handler;
  expiresAfter?: number;
  ch?: Channel;
  /** Connection generation `ch` belongs to: a channel of a dead connection is not a live consumer. */
  gen: number;
  starting?: Promise<void>;
  cancelled: boolean;
  timers: Set<NodeJS.Timeout>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const backoff = (attempt: number) => Math.min(5000, 100 * 2 ** (attempt - 1)) * (0.8 + Math.random() * 0.4);
const noop = () => undefined;
const textOf = (v: unknown) =>
  Buffer.isBuffer(v) ? v.toString('utf8') : typeof v === 'string' ? v : undefined;

export async function createAmqpBus(opts: {
  url: string;
  log: Logger;
  prefetch?: number;
  /** Wait before a failed message goes back to the queue (default 500 ms). */
  redeliveryDelayMs?: number;
  /** Bound on every call's wait for the broker: connect, publish, consume, rpc setup, close (default 15 s). */
  timeoutMs?: number;
}): Promise<AmqpBus> {
  const { log } = opts;
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const retryMs = opts.redeliveryDelayMs ?? 500;
  const connectionName = `kloudak-${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  // Named by us, not the broker, so it keeps its name across reconnects and late replies still arrive.
  const replyQueue = `kloudak.reply.${randomUUID()}`;
  const subs = new Set<Sub>();
  const calls = new PendingCalls();
  let conn: ChannelModel | undefined;
  let gen = 0;
  let dialing: Promise<ChannelModel> | undefined;
  let pub: Promise<ConfirmChannel> | undefined;
  let reply: Promise<void> | undefined;
  let asserted = new Set<string>();
  let closed = false;

  const open_ = () => {
    if (closed) throw unavailable('bus closed');
  };

  function connection(): Promise<ChannelModel> {
    if (conn) return Promise.resolve(conn);
    dialing ??= dial().finally(() => {
      dialing = undefined;
    });
    return dialing;
  }

  // Retries forever with backoff until connected or closed; callers bound their own wait.
  async function dial(): Promise<ChannelModel> {
    for (let attempt = 1; ; attempt++) {
      if (closed) throw unavailable('bus closed');
      const p = connect(opts.url, {
        timeout: timeoutMs,
        clientProperties: { connection_name: connectionName },
      });
      let c: ChannelModel;
      try {
        c = await withTimeout(p, timeoutMs, 'amqp connect');
      } catch (err) {
        p.then((late) => late.close()).catch(noop);
        if (!closed) log.warn({ err: String(err), attempt }, 'amqp: connect failed, retrying');
        await sleep(backoff(attempt));
        continue;
      }
      if (closed) {
        c.close().catch(noop);
        throw unavailable('bus closed');
      }
      c.on('error', (err) => log.warn({ err }, 'amqp: connection error'));
      c.on('blocked', (reason) => log.warn({ reason }, 'amqp: broker blocked publishing'));
      c.on('close', () => lost(c));
      conn = c;
      gen++;
      asserted = new Set();
      if (gen > 1) log.info({ connectionName }, 'amqp: reconnected');
      for (const s of subs) void startSub(s);
      return c;
    }
  }

  function lost(c: ChannelModel): void {
    if (conn !== c) return;
    conn = pub = reply = undefined;
    if (closed) return;
    log.warn({ connectionName }, 'amqp: connection lost, reconnecting');
    connection().catch(noop);
  }

  function confirmChannel(): Promise<ConfirmChannel> {
    if (pub) return pub;
    const p: Promise<ConfirmChannel> = connection().then(async (c) => {
      const ch = await c.createConfirmChannel();
      ch.on('error', (err) => log.warn({ err }, 'amqp: publish channel error'));
      ch.on('close', () => {
        if (pub === p) pub = undefined;
      });
      return ch;
    });
    p.catch(() => {
      if (pub === p) pub = undefined;
    });
    return (pub = p);
  }

  // Runs fn on the publish channel, retrying through reconnects until the deadline.
  async function withBroker<T>(what: string, fn: (ch: ConfirmChannel) => Promise<T>, deadline?: number) {
    const end = deadline ?? Date.now() + timeoutMs;
    for (let attempt = 1; ; attempt++) {
      open_();
      try {
        const ch = await withTimeout(confirmChannel(), end - Date.now(), what);
        return await withTimeout(fn(ch), end - Date.now(), what);
      } catch (err) {
        if (err instanceof TypeError || err instanceof RangeError) throw err; // a bad message, not a bad broker
        if (closed || Date.now() + 50 >= end) {
          throw isAppError(err) ? err : unavailable(`${what}: ${(err as Error).message}`);
        }
        log.warn({ err: String(err), attempt }, `amqp: ${what} failed, retrying`);
        await sleep(Math.min(backoff(attempt), end - Date.now()));
      }
    }
  }

  const send = (ch: ConfirmChannel, queue: string, content: Buffer, props: Options.Publish) =>
    new Promise<void>((resolve, reject) => {
      ch.sendToQueue(queue, content, props, (err: unknown) =>
        err ? reject(err instanceof Error ? err : new Error('message nacked by the broker')) : resolve(),
      );
    });

  // The default exchange drops messages for a queue that does not exist: declare it first (once per connection).
  // Properties are taken at each attempt, so a retried RPC request gets the expiration still left.
  const publishTo = (
    queue: string,
    content: Buffer,
    props: Options.Publish | (() => Options.Publish),
    deadline?: number,
    expiresAfter?: number,
  ) =>
    withBroker(
      `publish to ${queue}`,
      async (ch) => {
        if (!asserted.has(queue)) {
          await ch.assertQueue(queue, declaration(expiresAfter));
          asserted.add(queue);
        }
        await send(ch, queue, content, typeof props === 'function' ? props() : props);
      },
      deadline,
    );

  const propsOf = (o?: PublishOptions, headers: Record<string, unknown> = {}): Options.Publish => ({
    persistent: true,
    contentType: 'application/json',
    messageId: o?.messageId,
    timestamp: Math.floor(Date.now() / 1000),
    headers: o?.requestId ? { ...headers, 'x-request-id': o.requestId } : headers,
  });

  function later(s: Sub): void {
    if (s.cancelled || closed) return;
    const t = setTimeout(() => {
      s.timers.delete(t);
      void startSub(s);
    }, retryMs);
    s.timers.add(t);
  }

  // Idempotent: (re)establishes one consumer on its own channel (prefetch is per channel).
  function startSub(s: Sub): Promise<void> {
    if (s.cancelled || closed || (s.ch && s.gen === gen && conn)) return Promise.resolve();
    s.starting ??= (async () => {
      let ch: Channel | undefined;
      try {
        const c = await withTimeout(connection(), timeoutMs, `consume ${s.queue}`);
        const chGen = gen;
        ch = await c.createChannel();
        const mine = ch;
        mine.on('error', (err) => log.warn({ err, queue: s.queue }, 'amqp: consumer channel error'));
        mine.on('close', () => {
          if (s.ch !== mine) return;
          s.ch = undefined;
          if (conn === c) later(s); // closed alone (not with the connection): restart it ourselves
        });
        await mine.assertQueue(s.queue, declaration(s.expiresAfter));
        await mine.assertQueue(`${s.queue}.dead`, declaration(s.expiresAfter));
        await mine.prefetch(s.prefetch);
        if (s.cancelled || closed) return void (await mine.close());
        s.ch = mine;
        s.gen = chGen;
        await mine.consume(s.queue, (msg) => {
          if (msg) onMessage(s, mine, msg);
          else mine.close().catch(noop); // cancelled by the broker (queue deleted): start over
        });
      } catch (err) {
        if (!closed && !s.cancelled)
          log.warn({ err: String(err), queue: s.queue }, 'amqp: consumer not started');
        if (s.ch === ch) s.ch = undefined;
        ch?.close().catch(noop);
        later(s);
      } finally {
        s.starting = undefined;
      }
    })();
    return s.starting;
  }

  function onMessage(s: Sub, ch: Channel, msg: ConsumeMessage): void {
    // Once its channel is gone the broker has requeued the message: settling it here would be meaningless.
    const live = () => s.ch === ch;
    const safe = (f: () => void) => {
      try {
        if (live()) f();
      } catch (err) {
        log.warn({ err, queue: s.queue }, 'amqp: ack/nack failed; the broker will redeliver');
      }
    };
    const settle: Settle = {
      ack: () => safe(() => ch.ack(msg)),
      retry: () => {
        const t = setTimeout(() => {
          s.timers.delete(t);
          safe(() => ch.nack(msg, false, true));
        }, retryMs);
        s.timers.add(t);
      },
      deadLetter: async (reason) => {
        try {
          const p = msg.properties;
          const headers = { ...p.headers, 'x-dead-reason': reason, 'x-dead-queue': s.queue };
          await publishTo(
            `${s.queue}.dead`,
            msg.content,
            {
              ...propsOf({ messageId: p.messageId as string | undefined }, headers),
              contentType: p.contentType as string | undefined,
            },
            undefined,
            s.expiresAfter,
          );
          void settle.ack();
        } catch (err) {
          log.error({ err, queue: s.queue }, 'amqp: dead-lettering failed, message requeued');
          settle.retry();
        }
      },
    };
    const raw = {
      content: msg.content.toString('utf8'),
      redelivered: msg.fields.redelivered,
      requestId: textOf(msg.properties.headers?.['x-request-id']),
      messageId: textOf(msg.properties.messageId),
      queue: s.queue,
      deadReason: textOf(msg.properties.headers?.['x-dead-reason']),
    };
    deliver(raw, s.handlerOf(msg), settle, log).catch((err) => log.error({ err }, 'amqp: delivery failed'));
  }

  async function stopSub(s: Sub): Promise<void> {
    s.cancelled = true;
    subs.delete(s);
    for (const t of s.timers) clearTimeout(t);
    await s.starting;
    const ch = s.ch;
    s.ch = undefined;
    // Closing the channel (not just basic.cancel) is what returns its unacked messages to the queue.
    if (ch) await withTimeout(ch.close(), timeoutMs, 'amqp channel close').catch(noop);
  }

  async function listen(queue: string, o: ConsumeOptions | undefined, handlerOf: Sub['handlerOf']) {
    open_();
    const s: Sub = {
      queue,
      prefetch: o?.prefetch ?? opts.prefetch ?? 1,
      expiresAfter: o?.expiresAfter,
      handlerOf,
      gen: 0,
      cancelled: false,
      timers: new Set(),
    };
    subs.add(s);
    await startSub(s);
    if (!s.ch) {
      await stopSub(s);
      throw unavailable(`consume ${queue}: broker unavailable`);
    }
    return { cancel: () => stopSub(s) } satisfies Consumer;
  }

  function replies(): Promise<void> {
    if (reply) return reply;
    const p: Promise<void> = connection().then(async (c) => {
      const ch = await c.createChannel();
      ch.on('error', (err) => log.warn({ err }, 'amqp: reply channel error'));
      ch.on('close', () => {
        if (reply === p) reply = undefined;
      });
      await ch.assertQueue(replyQueue, { exclusive: true, autoDelete: true, durable: false });
      await ch.consume(
        replyQueue,
        (msg) => {
          const cid = textOf(msg?.properties.correlationId);
          if (msg && cid) calls.answer(cid, msg.content.toString('utf8'));
        },
        { noAck: true },
      );
    });
    p.catch(() => {
      if (reply === p) reply = undefined;
    });
    return (reply = p);
  }

  const sendReply = (to: string, correlationId: string, content: string) =>
    withBroker(`reply to ${to}`, (ch) =>
      send(ch, to, Buffer.from(content), { correlationId, contentType: 'application/json' }),
    );

  try {
    await withTimeout(connection(), timeoutMs, 'amqp connect');
  } catch (err) {
    closed = true;
    throw unavailable(`cannot connect to the message broker: ${(err as Error).message}`);
  }

  return {
    connectionName,
    async publish(queue, body, o) {
      await publishTo(queue, Buffer.from(JSON.stringify(body)), propsOf(o), undefined, o?.expiresAfter);
    },
    async publishRaw(queue, content) {
      await publishTo(queue, Buffer.from(content), propsOf());
    },
    consume: (queue, handler, o) => {
      const h = checked(queue, handler);
      return listen(queue, o, () => h);
    },
    serveRpc: (queue, handler, o) =>
      listen(queue, o, (msg) =>
        rpcServer(
          checkedRpc(queue, handler),
          textOf(msg.properties.replyTo),
          textOf(msg.properties.correlationId),
          sendReply,
          log,
        ),
      ),
    async rpc(queue, body, o?: PublishOptions & { timeout?: number }) {
      open_();
      const ms = (o?.timeout ?? 10) * 1000;
      const deadline = Date.now() + ms;
      const content = Buffer.from(JSON.stringify(body));
      const correlationId = randomUUID();
      const answer = calls.wait(correlationId, ms, queue);
      try {
        await withTimeout(replies(), deadline - Date.now(), `rpc ${queue}`);
        // Transient, and expiring when the caller stops waiting: a late request must not be served for nobody.
        let sentAt = Date.now();
        const props = () => ({
          ...propsOf(o),
          persistent: false,
          replyTo: replyQueue,
          correlationId,
          expiration: String(Math.max(1, deadline - (sentAt = Date.now()))),
        });
        await publishTo(queue, content, props, deadline, o?.expiresAfter);
        // The broker starts the expiration when the message reaches it, at most the confirm's round trip
        // after we sent it: the caller waits that much longer (and a millisecond), so it never gives up on a
        // request that a consumer could still receive.
        calls.extend(correlationId, deadline + (Date.now() - sentAt) + 1);
      } catch (err) {
        calls.fail(correlationId, err as Error);
      }
      // Checked against the queue's reply schema by readRpcReply.
      return readRpcReply(await answer, queue) as RpcReplyOf<typeof queue>;
    },
    depth: (queue) =>
      withBroker(
        `depth of ${queue}`,
        async (ch) => (await ch.assertQueue(queue, { durable: true })).messageCount,
      ),
    async close() {
      if (closed) return;
      closed = true;
      for (const s of subs) {
        s.cancelled = true;
        for (const t of s.timers) clearTimeout(t);
      }
      subs.clear();
      calls.failAll(unavailable('bus closed'));
      const c = conn;
      conn = pub = reply = undefined;
      // Closing the connection closes every channel: the broker requeues whatever our consumers held.
      if (c)
        await withTimeout(c.close(), timeoutMs, 'amqp close').catch((err) =>
          log.warn({ err }, 'amqp: close'),
        );
    },
  };
}
