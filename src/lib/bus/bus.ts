// The bus contract (DESIGN "Bus contract"): durable work queues with manual ack and redelivery, and RPC with
// reply_to + correlation_id. Two implementations keep it: RabbitMQ (amqp.ts) and in-process (memory.ts).

/** Queue names from the book. */
export const QUEUES = {
  vm: 'vm',
  network: 'network',
  vmNotification: 'vm_notification',
  networkNotification: 'network_notification',
  vmRollback: 'vm_rollback',
  networkRollback: 'network_rollback',
  hostFailure: 'host_failure',
  placeHost: 'placement_host',
  placePool: 'placement_pool',
} as const;

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
}

/**
 * Thrown by a handler for a message that can never succeed (not JSON, no task_id...): the bus moves it to
 * `<queue>.dead` with a log line instead of redelivering it forever.
 */
export class MalformedMessage extends Error {
  constructor(message: string) {
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
 * Bodies that are not JSON objects never reach a handler: they go to `<queue>.dead`.
 */
export type Handler<T = Record<string, unknown>> = (d: Delivery<T>) => Promise<void>;
export type RpcHandler = (body: Record<string, unknown>, d: Delivery) => Promise<unknown>;

export interface Bus {
  /** Resolves once the message is durable (publisher confirm / journal write). */
  publish(queue: string, body: Record<string, unknown>, opts?: PublishOptions): Promise<void>;
  consume<T = Record<string, unknown>>(
    queue: string,
    handler: Handler<T>,
    opts?: ConsumeOptions,
  ): Promise<Consumer>;
  /** Sends a request and waits for its answer; throws `unavailable` on timeout (seconds). An RPC server's thrown error comes back as an AppError of the same kind. */
  rpc<R = unknown>(
    queue: string,
    body: Record<string, unknown>,
    opts?: PublishOptions & { timeout?: number },
  ): Promise<R>;
  serveRpc(queue: string, handler: RpcHandler, opts?: ConsumeOptions): Promise<Consumer>;
  /** Messages waiting (not delivered) in a queue, for tests and metrics. */
  depth(queue: string): Promise<number>;
  close(): Promise<void>;
}
