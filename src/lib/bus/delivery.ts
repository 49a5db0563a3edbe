// Delivery semantics shared by both buses (memory.ts, amqp.ts): what a handler's outcome does to a message,
// the RPC reply envelope, pending calls and timeouts. One copy, so the two implementations cannot drift apart.
import { messageChecker, rpcCheckers } from '../contracts/messages.ts';
import { AppError, isAppError, unavailable, type ErrorKind } from '../errors.ts';
import type { Logger } from '../log.ts';
import { MalformedMessage, type Delivery, type Handler, type RpcHandler } from './bus.ts';

/** A message as a transport holds it: bytes as text plus the properties the contract carries. */
export interface RawDelivery {
  content: string;
  redelivered: boolean;
  requestId?: string;
  messageId?: string;
  queue: string;
  /** Why it was dead-lettered (on a dead-letter queue). */
  deadReason?: string;
}

/** What a transport does with a message once its fate is decided. */
export interface Settle {
  ack(): Promise<void> | void;
  deadLetter(reason: string): Promise<void>;
  /** Back to the queue after the redelivery delay. */
  retry(): void;
}

export function parseObject(content: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(content);
    return typeof v === 'object' && v !== null && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Runs a handler on one message: resolve acks, MalformedMessage (or a non-object body) dead-letters, other throws retry. */
export async function deliver(
  raw: RawDelivery,
  handler: Handler,
  settle: Settle,
  log: Logger,
): Promise<void> {
  const body = parseObject(raw.content);
  const ctx = { queue: raw.queue, messageId: raw.messageId, requestId: raw.requestId };
  if (!body) {
    log.error(
      { ...ctx, content: raw.content.slice(0, 200) },
      'bus: body is not a JSON object, dead-lettered',
    );
    return settle.deadLetter('body is not a JSON object');
  }
  const d: Delivery = {
    body,
    redelivered: raw.redelivered,
    requestId: raw.requestId,
    messageId: raw.messageId,
    queue: raw.queue,
    ...(raw.deadReason ? { deadReason: raw.deadReason } : {}),
  };
  try {
    await handler(d);
  } catch (err) {
    if (err instanceof MalformedMessage) {
      log.error({ ...ctx, reason: err.message }, 'bus: malformed message, dead-lettered');
      return settle.deadLetter(err.message);
    }
    log.warn({ ...ctx, err }, 'bus: handler failed, message will be redelivered');
    return settle.retry();
  }
  await settle.ack();
}

/**
 * A consumer's handler behind its queue's schema (src/lib/contracts/messages.ts): a message that does not
 * match never reaches it, and goes to `<queue>.dead` with the schema's complaint. Queues outside the
 * contract (and dead-letter queues) take any JSON object.
 */
export function checked<T>(queue: string, handler: Handler<T>): Handler {
  const c = messageChecker(queue);
  return async (d) => {
    if (c) {
      const v = c.check(d.body);
      if (!v.ok) throw new MalformedMessage(v.complaint.message, v.complaint.field);
    }
    // Checked against T's own schema just above (or T is any JSON object).
    return handler(d as Delivery<T>);
  };
}

/** An RPC server's handler behind its queue's request schema; the caller is answered `input` on a mismatch. */
export function checkedRpc<Req, Reply>(queue: string, handler: RpcHandler<Req, Reply>): RpcHandler {
  const c = rpcCheckers(queue)?.request;
  return async (body, d) => {
    if (c) {
      const v = c.check(body);
      if (!v.ok) throw new MalformedMessage(v.complaint.message, v.complaint.field);
    }
    return handler(body as Req, d as Delivery<Req>);
  };
}

type RpcReply =
  { ok: true; result: unknown } | { ok: false; error: { kind: ErrorKind; message: string; field?: string } };

/**
 * Turns an RPC server's handler into a message handler that always answers: an AppError travels as itself,
 * any other failure as `unavailable` (the caller would otherwise wait for its timeout). A MalformedMessage is
 * answered as `input` and still dead-lettered.
 */
export function rpcServer(
  handler: RpcHandler,
  replyTo: string | undefined,
  correlationId: string | undefined,
  send: (replyTo: string, correlationId: string, content: string) => Promise<void>,
  log: Logger,
): Handler {
  return async (d) => {
    if (!replyTo || !correlationId)
      throw new MalformedMessage('rpc request without reply_to or correlation_id');
    let reply: RpcReply;
    try {
      reply = { ok: true, result: (await handler(d.body, d)) ?? null };
    } catch (err) {
      if (err instanceof MalformedMessage) {
        const error = { kind: 'input', message: err.message, ...(err.field ? { field: err.field } : {}) };
        await send(replyTo, correlationId, JSON.stringify({ ok: false, error }));
        throw err;
      }
      if (!isAppError(err))
        log.error({ queue: d.queue, requestId: d.requestId, err }, 'bus: rpc handler failed');
      const e = isAppError(err)
        ? err
        : unavailable(`${d.queue} failed: ${(err as Error)?.message ?? String(err)}`);
      reply = {
        ok: false,
        error: { kind: e.kind, message: e.message, ...(e.field ? { field: e.field } : {}) },
      };
    }
    await send(replyTo, correlationId, JSON.stringify(reply));
  };
}

/** The caller's side of the envelope: the result (checked against the queue's reply schema), or the server's
 * AppError rethrown. */
export function readRpcReply(content: string, queue: string): unknown {
  const r = parseObject(content) as RpcReply | undefined;
  if (r?.ok === true) {
    const v = rpcCheckers(queue)?.reply.check(r.result);
    if (v && !v.ok) throw unavailable(`${queue} answered an unexpected shape: ${v.complaint.message}`);
    return r.result;
  }
  if (r?.ok === false && r.error) throw new AppError(r.error.kind, r.error.message, r.error.field);
  throw unavailable('malformed rpc reply');
}

interface PendingCall {
  resolve: (content: string) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  deadline: number;
  /** Run when the caller stops waiting, so the transport can withdraw a request nobody waits for. */
  gone?: () => void;
}

/**
 * RPC calls waiting for their reply, by correlation id; each rejects `unavailable` at its deadline. A call
 * never gives up before its deadline by the wall clock (a timer can fire a little early by it), so a request
 * that expires at the deadline has expired by the time its caller is gone.
 */
export class PendingCalls {
  private calls = new Map<string, PendingCall>();

  wait(id: string, ms: number, queue: string, gone?: () => void): Promise<string> {
    const deadline = Date.now() + ms;
    const p = new Promise<string>((resolve, reject) => {
      const expire = (): void => {
        const c = this.calls.get(id);
        if (!c) return;
        const left = c.deadline - Date.now();
        if (left > 0) {
          c.timer = setTimeout(expire, left);
          return;
        }
        this.settle(id);
        reject(unavailable(`no answer from ${queue} within ${ms / 1000}s`));
      };
      this.calls.set(id, { resolve, reject, timer: setTimeout(expire, ms), deadline, gone });
    });
    // Marked handled now: the caller awaits it only after publishing, and a failure may come first.
    p.catch(() => undefined);
    return p;
  }

  /** Keeps waiting until `deadline` (never shortens the wait). */
  extend(id: string, deadline: number): void {
    const c = this.calls.get(id);
    if (c && deadline > c.deadline) c.deadline = deadline;
  }

  /** Settles a call; a late or unknown reply is dropped. */
  answer(id: string, content: string): void {
    this.settle(id, false)?.resolve(content);
  }

  fail(id: string, err: Error): void {
    this.settle(id)?.reject(err);
  }

  failAll(err: Error): void {
    for (const id of [...this.calls.keys()]) this.fail(id, err);
  }

  private settle(id: string, gone = true): PendingCall | undefined {
    const c = this.calls.get(id);
    if (!c) return undefined;
    clearTimeout(c.timer);
    this.calls.delete(id);
    if (gone) c.gone?.();
    return c;
  }
}

/** Rejects with `unavailable` when p takes longer than ms. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(unavailable(`${what}: timed out after ${ms} ms`)), Math.max(0, ms));
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
