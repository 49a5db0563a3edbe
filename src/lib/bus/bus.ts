// The bus contract (DESIGN "Bus contract"): durable work queues with manual ack and redelivery, and RPC with
// reply_to + correlation_id. Two implementations keep it: RabbitMQ (amqp.ts) and in-process (memory.ts).
// What each queue carries is src/lib/contracts/messages.ts: publishing and consuming are typed by it, and
// every message is checked against it where it arrives.
import type { MessageOf, RpcReplyOf, RpcRequestOf } from '../contracts/messages.ts';

export { QUEUES } from '../contracts/messages.ts';

/** How a queue is declared; publishers and consumers of one queue must give the same. */
export interface QueueOptions {
  /** A process's own queue (monitor.<member>): the broker deletes it, and its dead-letter queue, after this
   * many milliseconds without a consumer, so members that die leave no queues behind. */
  expiresAfter?: number;
}

export interface PublishOptions extends QueueOptions {
  /** Travels with the message so every log line of the task carries it. */
  requestId?: string;
  /** Stable id for deduplication by consumers (the outbox row id). */
  messageId?: string;
}

export interface Delivery<T = Record<string, unknown>> {
  body: T;
  /** True when an earlier delivery of this message was not acked (consumer died or nacked). */
  redelivered: boolean;
  requestId?: string;
  messageId?: string;
  queue: string;
  /** On a dead-letter queue: why the message was put there (e.g. the schema's complaint). */
  deadReason?: string;
}

/**
 * Thrown for a message that can never succeed (not JSON, not the queue's shape...): the bus moves it to
 * `<queue>.dead` with the reason instead of redelivering it forever. The bus throws it itself for a message
 * its queue's schema refuses, before any handler runs.
 */
export class MalformedMessage extends Error {
  constructor(
    message: string,
    /** The field at fault, when one is. */
    readonly field?: string,
  ) {
    super(message);
    this.name = 'MalformedMessage';
  }
}

export interface ConsumeOptions extends QueueOptions {
  /** Unacked messages this consumer holds at once. */
  prefetch?: number;
}

export interface Consumer {
  /** Stops taking messages; messages it holds unacked go back to the queue. */
  cancel(): Promise<void>;
}

/**
 * A handler that resolves acks the message; one that throws MalformedMessage dead-letters it; any other
 * throw returns it to the queue for redelivery (after a short delay, so a failing handler does not spin).
 * Bodies that are not JSON objects, or not of their queue's schema, never reach a handler: they go to
 * `<queue>.dead`.
 */
export type Handler<T = Record<string, unknown>> = (d: Delivery<T>) => Promise<void>;
export type RpcHandler<Req = Record<string, unknown>, Reply = unknown> = (
  body: Req,
  d: Delivery<Req>,
) => Promise<Reply>;

export interface Bus {
  /** Resolves once the message is durable (publisher confirm / journal write). */
  publish<Q extends string>(queue: Q, body: MessageOf<Q>, opts?: PublishOptions): Promise<void>;
  consume<Q extends string>(
    queue: Q,
    handler: Handler<MessageOf<Q>>,
    opts?: ConsumeOptions,
  ): Promise<Consumer>;
  /** Sends a request and waits for its answer (checked against the queue's reply schema); throws
   * `unavailable` on timeout (seconds). An RPC server's thrown error comes back as an AppError of the same
   * kind; a request its schema refuses comes back as `input`, naming the field. */
  rpc<Q extends string>(
    queue: Q,
    body: RpcRequestOf<Q>,
    opts?: PublishOptions & { timeout?: number },
  ): Promise<RpcReplyOf<Q>>;
  serveRpc<Q extends string>(
    queue: Q,
    handler: RpcHandler<RpcRequestOf<Q>, RpcReplyOf<Q>>,
    opts?: ConsumeOptions,
  ): Promise<Consumer>;
  /** Messages waiting (not delivered) in a queue, for tests and metrics. */
  depth(queue: string): Promise<number>;
  close(): Promise<void>;
}
