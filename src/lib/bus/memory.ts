// The in-process bus: RabbitMQ's work-queue semantics without a broker (one consumer per message, round
// robin, prefetch, redelivery, dead letters, RPC), durable across restarts when given a journal directory.
import { randomUUID } from 'node:crypto';
import { chmod, mkdir, open, readdir, readFile, rename, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { unavailable } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { RpcReplyOf } from '../contracts/messages.ts';
import type { Bus, Consumer, Handler } from './bus.ts';
import {
  checked,
  checkedRpc,
  deliver,
  parseObject,
  PendingCalls,
  readRpcReply,
  rpcServer,
  type Settle,
} from './delivery.ts';

interface Msg {
  id: string;
  content: string;
  requestId?: string;
  messageId?: string;
  replyTo?: string;
  correlationId?: string;
  /** RPC requests expire with their caller's timeout, like AMQP `expiration`; withdrawn (0) once it is gone. */
  expiresAt?: number;
  redelivered: boolean;
  /** On a dead-letter queue: why it is there (AMQP's x-dead-reason header). */
  deadReason?: string;
}

interface Sub {
  q: Queue;
  prefetch: number;
  retryMs: number;
  held: Set<Msg>;
  timers: Set<NodeJS.Timeout>;
  run: (m: Msg, sub: Sub) => Promise<void>;
}

interface Queue {
  name: string;
  ready: Msg[];
  subs: Sub[];
  next: number;
  journal?: Promise<Journal>;
}

// A JSON-lines file per queue: {op:'pub', ...msg} and {op:'ack', id}. Writes are chained so lines never interleave.
class Journal {
  private chain: Promise<void> = Promise.resolve();
  constructor(private fh: FileHandle) {}
  append(rec: object, sync: boolean): Promise<void> {
    const p = this.chain.then(async () => {
      await this.fh.write(JSON.stringify(rec) + '\n');
      if (sync) await this.fh.sync();
    });
    this.chain = p.catch(() => undefined);
    return p;
  }
  async close(): Promise<void> {
    await this.chain;
    await this.fh.close();
  }
}

const expired = (m: Msg, now = Date.now()) => m.expiresAt !== undefined && m.expiresAt <= now;

const fileOf = (dir: string, queue: string) => join(dir, `${encodeURIComponent(queue)}.jsonl`);

class Broker {
  queues = new Map<string, Queue>();
  replyTargets = new Map<string, (correlationId: string, content: string) => void>();
  refs = 0;
  constructor(
    readonly dir: string | undefined,
    private log: Logger,
  ) {}

  queue(name: string): Queue {
    let q = this.queues.get(name);
    if (!q) this.queues.set(name, (q = { name, ready: [], subs: [], next: 0 }));
    if (this.dir && !q.journal)
      q.journal = open(fileOf(this.dir, name), 'a', 0o600).then((fh) => new Journal(fh));
    return q;
  }

  /** Replays every queue's journal: unacked messages come back (redelivered), the file is rewritten with only them. */
  async replay(): Promise<void> {
    if (!this.dir) return;
    // Messages carry guests' passwords until they are acked: only the service's user reads the journal.
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await chmod(this.dir, 0o700);
    for (const f of (await readdir(this.dir)).filter((n) => n.endsWith('.jsonl'))) {
      const name = decodeURIComponent(f.slice(0, -'.jsonl'.length));
      const live = new Map<string, Msg>();
      for (const line of (await readFile(join(this.dir, f), 'utf8')).split('\n')) {
        if (!line) continue;
        const rec = parseObject(line);
        // A torn last line is a publish that never resolved: nobody was told it was accepted.
        if (!rec)
          this.log.warn({ queue: name, line: line.slice(0, 100) }, 'bus journal: unreadable line skipped');
        else if (rec.op === 'pub') {
          const m = { ...rec, redelivered: true } as unknown as Msg & { op?: string };
          delete m.op;
          live.set(m.id, m);
        } else if (rec.op === 'ack') live.delete(rec.id as string);
      }
      const tmp = join(this.dir, `${f}.tmp`);
      const fh = await open(tmp, 'w', 0o600);
      await fh.write(
        [...live.values()]
          .map((m) => JSON.stringify({ op: 'pub', ...m, redelivered: undefined }) + '\n')
          .join(''),
      );
      await fh.sync();
      await fh.close();
      await rename(tmp, join(this.dir, f));
      this.queue(name).ready.push(...live.values());
      if (live.size)
        this.log.info({ queue: name, messages: live.size }, 'bus journal: unacked messages requeued');
    }
  }

  async publish(queueName: string, m: Msg): Promise<void> {
    const q = this.queue(queueName);
    // RPC requests are transient (their caller is waiting in this process), like non-persistent AMQP messages.
    if (q.journal && !m.replyTo)
      await (await q.journal).append({ op: 'pub', ...m, redelivered: undefined }, true);
    q.ready.push(m);
    this.pump(q);
  }

  private pump(q: Queue): void {
    while (q.ready.length > 0) {
      const sub = this.nextFree(q);
      if (!sub) return;
      const m = q.ready.shift()!;
      if (expired(m)) continue;
      sub.held.add(m);
      setImmediate(() => void sub.run(m, sub));
    }
  }

  // Round robin over the consumers that have room under their prefetch.
  private nextFree(q: Queue): Sub | undefined {
    for (let i = 0; i < q.subs.length; i++) {
      const idx = (q.next + i) % q.subs.length;
      const s = q.subs[idx];
      if (s.held.size < s.prefetch) {
        q.next = (idx + 1) % q.subs.length;
        return s;
      }
    }
    return undefined;
  }

  subscribe(queue: string, prefetch: number, retryMs: number, run: Sub['run']): Sub {
    const sub: Sub = {
      q: this.queue(queue),
      prefetch: Math.max(1, prefetch),
      retryMs,
      held: new Set(),
      timers: new Set(),
      run,
    };
    sub.q.subs.push(sub);
    this.pump(sub.q);
    return sub;
  }

  /** Consumer gone: what it holds goes back to the head of the queue, marked redelivered. */
  unsubscribe(sub: Sub): void {
    sub.q.subs = sub.q.subs.filter((s) => s !== sub);
    for (const t of sub.timers) clearTimeout(t);
    const held = [...sub.held];
    sub.held.clear();
    for (const m of held) m.redelivered = true;
    sub.q.ready.unshift(...held);
    this.pump(sub.q);
  }

  /** Settles one delivery; a no-op when the consumer no longer holds it (cancelled meanwhile: it was requeued). */
  settle(sub: Sub, m: Msg): Settle {
    const done = async () => {
      if (!sub.held.delete(m)) return false;
      if (sub.q.journal && !m.replyTo) await (await sub.q.journal).append({ op: 'ack', id: m.id }, false);
      this.pump(sub.q);
      return true;
    };
    return {
      ack: async () => void (await done()),
      deadLetter: async (reason) => {
        if (!sub.held.has(m)) return;
        // Written to the dead queue (durably) before the ack, so a crash in between duplicates, never loses.
        await this.publish(`${sub.q.name}.dead`, {
          ...m,
          id: randomUUID(),
          redelivered: false,
          replyTo: undefined,
          expiresAt: undefined,
          deadReason: reason,
        });
        await done();
      },
      retry: () => {
        const t = setTimeout(() => {
          sub.timers.delete(t);
          if (!sub.held.delete(m)) return;
          m.redelivered = true;
          sub.q.ready.unshift(m);
          this.pump(sub.q);
        }, sub.retryMs);
        sub.timers.add(t);
      },
    };
  }

  depth(queue: string): number {
    const now = Date.now();
    return this.queues.get(queue)?.ready.filter((m) => !expired(m, now)).length ?? 0;
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map(async (q) => (await q.journal)?.close()));
  }
}

// One broker per journal directory (and one without), shared by every bus of the process, so services run
// in one process meet on the same queues. It lives while a bus uses it; the last close() drops it.
const brokers = new Map<string, Promise<Broker>>();

export interface MemoryBus extends Bus {
  /** Puts raw text on a queue as a foreign producer could (the wire carries bytes, not objects). */
  publishRaw(queue: string, content: string): Promise<void>;
}

export async function createMemoryBus(opts: {
  journalDir?: string;
  log: Logger;
  redeliveryDelayMs?: number;
}): Promise<MemoryBus> {
  const { log } = opts;
  const key = opts.journalDir ? resolve(opts.journalDir) : '';
  let pending = brokers.get(key);
  if (!pending) {
    const b = new Broker(opts.journalDir ? key : undefined, log);
    brokers.set(key, (pending = b.replay().then(() => b)));
    pending.catch(() => brokers.delete(key));
  }
  const broker = await pending;
  broker.refs++;

  let closed = false;
  const subs = new Set<Sub>();
  const calls = new PendingCalls();
  const replyQueue = `reply.${randomUUID()}`;
  broker.replyTargets.set(replyQueue, (cid, content) => calls.answer(cid, content));

  const open_ = () => {
    if (closed) throw unavailable('bus closed');
  };
  const put = (queue: string, content: string, p: Partial<Msg> = {}) =>
    broker.publish(queue, { id: randomUUID(), content, redelivered: false, ...p });
  const sendReply = async (to: string, cid: string, content: string) => {
    const target = broker.replyTargets.get(to); // a caller gone away: the reply is dropped, as AMQP does
    if (target) setImmediate(() => target(cid, content));
  };

  const listen = (queue: string, prefetch: number, handlerOf: (m: Msg) => Handler): Consumer => {
    open_();
    const sub = broker.subscribe(queue, prefetch, opts.redeliveryDelayMs ?? 500, (m, s) => {
      if (!s.held.has(m)) return Promise.resolve();
      // Its caller gave up between dispatch and now: drop it, as the broker drops an expired message.
      if (expired(m)) return Promise.resolve(broker.settle(s, m).ack());
      const raw = {
        content: m.content,
        redelivered: m.redelivered,
        requestId: m.requestId,
        messageId: m.messageId,
        queue,
        deadReason: m.deadReason,
      };
      return deliver(raw, handlerOf(m), broker.settle(s, m), log);
    });
    subs.add(sub);
    return {
      cancel: async () => {
        if (subs.delete(sub)) broker.unsubscribe(sub);
      },
    };
  };

  return {
    async publish(queue, body, o) {
      open_();
      await put(queue, JSON.stringify(body), { requestId: o?.requestId, messageId: o?.messageId });
    },
    async publishRaw(queue, content) {
      open_();
      await put(queue, content);
    },
    async consume(queue, handler, o) {
      const h = checked(queue, handler);
      return listen(queue, o?.prefetch ?? 1, () => h);
    },
    async serveRpc(queue, handler, o) {
      const h = checkedRpc(queue, handler);
      return listen(queue, o?.prefetch ?? 1, (m) => rpcServer(h, m.replyTo, m.correlationId, sendReply, log));
    },
    async rpc(queue, body, o) {
      open_();
      const ms = (o?.timeout ?? 10) * 1000;
      const correlationId = randomUUID();
      const request: Msg = {
        id: randomUUID(),
        content: JSON.stringify(body),
        redelivered: false,
        requestId: o?.requestId,
        messageId: o?.messageId,
        replyTo: replyQueue,
        correlationId,
        expiresAt: Date.now() + ms,
      };
      // When the caller stops waiting (timeout, or its bus closes) the request is withdrawn: a consumer that
      // comes later never works for a caller that is gone.
      const answer = calls.wait(correlationId, ms, queue, () => (request.expiresAt = 0));
      try {
        await broker.publish(queue, request);
      } catch (err) {
        calls.fail(correlationId, err as Error);
      }
      // Checked against the queue's reply schema by readRpcReply.
      return readRpcReply(await answer, queue) as RpcReplyOf<typeof queue>;
    },
    async depth(queue) {
      return broker.depth(queue);
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const s of subs) broker.unsubscribe(s);
      subs.clear();
      broker.replyTargets.delete(replyQueue);
      calls.failAll(unavailable('bus closed'));
      if (--broker.refs === 0 && brokers.get(key) === pending) {
        brokers.delete(key);
        await broker.close();
      }
    },
  };
}
