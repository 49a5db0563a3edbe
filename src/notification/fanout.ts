// Fan-out between notification instances. Each instance delivers a message to its own members directly and
// publishes it for the others; with Redis, one channel per workspace that an instance subscribes to only
// while it has members in that room. A message carries the publishing instance's id, so the publisher
// skips its own copy instead of delivering twice.
import { Redis } from 'ioredis';
import type { Logger } from '../lib/log.ts';

export interface Fanout {
  /** Takes a reference on a room; resolves once this instance hears the room's messages (or after a bounded wait). */
  acquire(workspace: string): Promise<void>;
  release(workspace: string): void;
  /** Hands `data` to the other instances; never throws, never waits. */
  publish(workspace: string, data: Buffer): void;
  readonly healthy: boolean;
  close(): Promise<void>;
}

/** The embedded mode: one instance, nothing to fan out to. */
export function createLocalFanout(): Fanout {
  return {
    acquire: async () => {},
    release: () => {},
    publish: () => {},
    healthy: true,
    close: async () => {},
  };
}

export interface RedisFanoutOptions {
  url: string;
  instanceId: string;
  log: Logger;
  /** A message another instance published to a room. */
  onMessage(workspace: string, data: Buffer): void;
  onPublishError?(): void;
  /** Bound on how long a first member of a room waits for the subscription. */
  subscribeWaitMs?: number;
}

export const CHANNEL_PREFIX = 'kloudak:notification:';
const NEWLINE = 0x0a;

export function createRedisFanout(o: RedisFanoutOptions): Fanout {
  const waitMs = o.subscribeWaitMs ?? 2000;
  const origin = Buffer.from(`${o.instanceId}\n`);
  const originId = origin.subarray(0, origin.length - 1);
  // Subscriptions are ours to restore (on 'ready'), so a room joined during an outage is subscribed too.
  const sub = new Redis(o.url, {
    autoResubscribe: false,
    maxRetriesPerRequest: null,
    connectionName: `kloudak-notification-sub-${o.instanceId}`,
  });
  // A publish fails fast during an outage: local members still get the message, remote ones miss it.
  const pub = new Redis(o.url, {
    maxRetriesPerRequest: 2,
    connectionName: `kloudak-notification-pub-${o.instanceId}`,
  });
  const refs = new Map<string, number>();
  const subscribed = new Map<string, Promise<void>>();
  let down = false;

  const onError = (which: string) => (e: Error) => {
    if (down) return;
    down = true;
    o.log.warn(
      { err: e.message, connection: which },
      'redis unreachable; notification fan-out degraded to this instance',
    );
  };
  sub.on('error', onError('subscriber'));
  pub.on('error', onError('publisher'));
  sub.on('ready', () => {
    if (down) o.log.info('redis reachable again; resubscribing');
    down = false;
    const channels = [...refs.keys()].map((w) => CHANNEL_PREFIX + w);
    if (channels.length)
      sub
        .subscribe(...channels)
        .catch((e: Error) => o.log.warn({ err: e.message }, 'redis resubscribe failed'));
  });
  sub.on('messageBuffer', (channel: Buffer, message: Buffer) => {
    const nl = message.indexOf(NEWLINE);
    if (nl < 0 || originId.equals(message.subarray(0, nl))) return;
    const workspace = channel.toString().slice(CHANNEL_PREFIX.length);
    o.onMessage(workspace, message.subarray(nl + 1));
  });

  return {
    async acquire(workspace) {
      const count = (refs.get(workspace) ?? 0) + 1;
      refs.set(workspace, count);
      let p = subscribed.get(workspace);
      if (!p) {
        p = sub.subscribe(CHANNEL_PREFIX + workspace).then(
          () => undefined,
          (e: Error) => o.log.warn({ err: e.message, workspace }, 'redis subscribe failed'),
        );
        subscribed.set(workspace, p);
      }
      // During an outage nobody waits: the 'ready' handler subscribes once Redis is back.
      if (sub.status !== 'ready') return;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([p, new Promise<void>((r) => (timer = setTimeout(r, waitMs)))]);
      clearTimeout(timer);
    },

    release(workspace) {
      const count = (refs.get(workspace) ?? 0) - 1;
      if (count > 0) {
        refs.set(workspace, count);
        return;
      }
      refs.delete(workspace);
      subscribed.delete(workspace);
      // Commands on one connection run in order, so a later acquire's SUBSCRIBE still wins.
      sub.unsubscribe(CHANNEL_PREFIX + workspace).catch(() => {});
    },

    publish(workspace, data) {
      pub.publish(CHANNEL_PREFIX + workspace, Buffer.concat([origin, data])).catch((e: Error) => {
        o.onPublishError?.();
        o.log.warn({ err: e.message, workspace }, 'redis publish failed; remote members miss this message');
      });
    },

    get healthy() {
      return sub.status === 'ready' && pub.status === 'ready';
    },

    async close() {
      await Promise.all(
        [sub, pub].map(async (r) => {
          if (r.status !== 'ready') return r.disconnect();
          await r.quit().catch(() => r.disconnect());
        }),
      );
    },
  };
}
