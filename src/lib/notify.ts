// The notification protocol and the client services use to send to workspace rooms.
//
// Protocol: connect to ws://host:3000/<workspace>/<token> (book chapter 8). Members receive every message
// sent to the room, as the exact JSON text the sender wrote. Only service tokens may send. A refused
// connection is accepted and then closed with one of the CLOSE codes, because a browser sees the close code
// but never the HTTP status of a refused upgrade, and the dashboard must tell "renew the token" from "give up".
// Beyond the book: `?send_only=1` (service tokens only) opens a sending link that is not a room member and
// whose every message is answered in order with {"ack": n} (n counts the link's messages from 1), or
// {"error": "...", "seq": n} when refused, so a sender knows the service took the message.
import { WebSocket } from 'ws';
import { AppError, unavailable } from './errors.ts';
import type { Logger } from './log.ts';

export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  /** The token check could not run (e.g. inventory's JWKS is unreachable): try again later. */
  unavailable: 1011,
  /** A message that is not JSON text. */
  badMessage: 4400,
  /** No, invalid or expired token: get a fresh token and reconnect. */
  unauthenticated: 4401,
  /** Not a member of the workspace, or a user token trying to send: do not retry. */
  notAllowed: 4403,
  /** The path is not /<workspace>/<token>. */
  notFound: 4404,
} as const;

export const SEND_ONLY_PARAM = 'send_only';

/** The path of a room (the token is part of it: never log the result). */
export function roomPath(workspace: string, token: string, sendOnly = false): string {
  return `/${encodeURIComponent(workspace)}/${encodeURIComponent(token)}${sendOnly ? `?${SEND_ONLY_PARAM}=1` : ''}`;
}

export interface NotifierOptions {
  /** ws://host:3000, as config NOTIFICATION_URL. */
  url: string;
  /** A service token; called for every new connection, so it may renew. */
  token: () => Promise<string>;
  log: Logger;
  /** Milliseconds for one connect or one acknowledgement. */
  timeoutMs?: number;
  /** Attempts after the first before send gives up. */
  retries?: number;
  /** A room link unused this long is closed. */
  idleMs?: number;
}

export interface Notifier {
  /** Delivers to every member of the workspace room; throws AppError 'unavailable' once the retries are spent. */
  send(workspace: string, message: Record<string, unknown>): Promise<void>;
  close(): Promise<void>;
}

/** Why a link failed; `permanent` failures are not retried. */
class LinkError extends Error {
  constructor(
    message: string,
    readonly permanent = false,
  ) {
    super(message);
  }
}

interface Pending {
  resolve(): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

interface Link {
  ws: WebSocket;
  seq: number;
  pending: Map<number, Pending>;
  idle?: NodeJS.Timeout;
}

const PERMANENT_CODES = new Set<number>([CLOSE.notAllowed, CLOSE.notFound, CLOSE.badMessage, 1009]);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function createNotifier(opts: NotifierOptions): Notifier {
  const base = opts.url.replace(/\/+$/, '');
  const timeoutMs = opts.timeoutMs ?? 5000;
  const retries = opts.retries ?? 3;
  const idleMs = opts.idleMs ?? 5 * 60_000;
  const links = new Map<string, Link>();
  const opening = new Map<string, Promise<Link>>();
  let closed = false;

  function failAll(link: Link, e: Error): void {
    for (const p of link.pending.values()) {
      clearTimeout(p.timer);
      p.reject(e);
    }
    link.pending.clear();
  }

  async function open(workspace: string): Promise<Link> {
    let token: string;
    try {
      token = await opts.token();
    } catch (e) {
      throw new LinkError(`no service token: ${(e as Error).message}`);
    }
    const ws = new WebSocket(base + roomPath(workspace, token, true), {
      handshakeTimeout: timeoutMs,
      perMessageDeflate: false,
    });
    const link: Link = { ws, seq: 0, pending: new Map() };
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      let frame: { ack?: unknown; error?: unknown; seq?: unknown };
      try {
        frame = JSON.parse((data as Buffer).toString()) as typeof frame;
      } catch {
        return;
      }
      const n =
        typeof frame.ack === 'number' ? frame.ack : typeof frame.seq === 'number' ? frame.seq : undefined;
      const p = n === undefined ? undefined : link.pending.get(n);
      if (!p || n === undefined) return;
      link.pending.delete(n);
      clearTimeout(p.timer);
      if (typeof frame.ack === 'number') p.resolve();
      else p.reject(new LinkError(`refused: ${String(frame.error)}`, true));
    });
    let lastError = '';
    ws.on('close', (code, reason) => {
      if (links.get(workspace) === link) links.delete(workspace);
      clearTimeout(link.idle);
      const why = reason.toString() || lastError || 'connection closed';
      failAll(link, new LinkError(`${why} (${code})`, PERMANENT_CODES.has(code)));
    });
    // 'error' always precedes 'close', which does the cleanup; without a listener it would crash the process.
    ws.on('error', (e) => (lastError = e.message));
    await new Promise<void>((resolve, reject) => {
      const onOpen = () => {
        ws.off('close', onClose);
        resolve();
      };
      const onClose = (code: number, reason: Buffer) => {
        ws.off('open', onOpen);
        const why = reason.toString() || lastError || 'closed';
        reject(new LinkError(`connect failed: ${why} (${code})`, PERMANENT_CODES.has(code)));
      };
      ws.once('open', onOpen);
      ws.once('close', onClose);
    });
    return link;
  }

  async function linkOf(workspace: string): Promise<Link> {
    const existing = links.get(workspace);
    if (existing && existing.ws.readyState === WebSocket.OPEN) return existing;
    let p = opening.get(workspace);
    if (!p) {
      p = open(workspace)
        .then((link) => {
          // close() may have run while connecting.
          if (closed) {
            link.ws.terminate();
            throw new LinkError('notifier closed', true);
          }
          links.set(workspace, link);
          return link;
        })
        .finally(() => opening.delete(workspace));
      opening.set(workspace, p);
    }
    return p;
  }

  function sendOn(link: Link, workspace: string, text: string): Promise<void> {
    if (link.ws.readyState === WebSocket.CLOSED) return Promise.reject(new LinkError('connection closed'));
    const n = ++link.seq;
    clearTimeout(link.idle);
    link.idle = setTimeout(() => {
      if (link.pending.size === 0) link.ws.close(CLOSE.normal, 'idle');
    }, idleMs).unref();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        link.pending.delete(n);
        reject(new LinkError('no acknowledgement in time'));
        // An unanswered link is presumed dead: drop it so the retry opens a fresh one.
        if (links.get(workspace) === link) links.delete(workspace);
        link.ws.terminate();
      }, timeoutMs);
      link.pending.set(n, { resolve, reject, timer });
      // A failed write means the link is closing: its 'close' handler rejects with the server's close code
      // (e.g. 4403, which is not worth retrying), and the timer covers the rest.
      link.ws.send(text, () => {});
    });
  }

  return {
    async send(workspace, message) {
      const text = JSON.stringify(message);
      let last: Error | undefined;
      for (let attempt = 0; attempt <= retries; attempt++) {
        if (closed) throw unavailable('notifier closed');
        if (attempt) await sleep(Math.min(100 * 2 ** (attempt - 1), 2000));
        try {
          await sendOn(await linkOf(workspace), workspace, text);
          return;
        } catch (e) {
          last = e as Error;
          if (e instanceof LinkError && e.permanent) break;
          opts.log.warn({ workspace, attempt, err: last.message }, 'notification send failed; retrying');
        }
      }
      const err = new AppError(
        'unavailable',
        `notification to ${workspace} not delivered: ${last?.message ?? 'unknown'}`,
      );
      opts.log.error({ workspace, err: err.message }, 'notification dropped');
      throw err;
    },

    async close() {
      closed = true;
      await Promise.allSettled([...opening.values()]);
      const all = [...links.values()];
      links.clear();
      await Promise.all(
        all.map(
          (link) =>
            new Promise<void>((resolve) => {
              clearTimeout(link.idle);
              failAll(link, unavailable('notifier closed'));
              if (link.ws.readyState === WebSocket.CLOSED) return resolve();
              const t = setTimeout(() => link.ws.terminate(), 1000);
              link.ws.once('close', () => {
                clearTimeout(t);
                resolve();
              });
              link.ws.close(CLOSE.normal, 'notifier closed');
            }),
        ),
      );
    },
  };
}
