// Websocket clients for the notification tests: each records what it receives and how it was closed.
import { WebSocket } from 'ws';
import { roomPath } from '../../src/lib/notify.ts';

export interface Client {
  ws: WebSocket;
  received: string[];
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves once `n` messages have arrived. */
  waitFor(n: number, ms?: number): Promise<string[]>;
}

const clients: WebSocket[] = [];

/** Connects and resolves when the handshake is done (a refused client then sees its close code). */
export function connect(
  port: number,
  workspace: string,
  token: string,
  opts: { sendOnly?: boolean; autoPong?: boolean } = {},
) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${roomPath(workspace, token, opts.sendOnly)}`, {
    autoPong: opts.autoPong ?? true,
  });
  return open(ws);
}

export function connectRaw(port: number, path: string) {
  return open(new WebSocket(`ws://127.0.0.1:${port}${path}`));
}

async function open(ws: WebSocket): Promise<Client> {
  clients.push(ws);
  const received: string[] = [];
  const waiters = new Set<() => void>();
  ws.on('message', (data) => {
    received.push((data as Buffer).toString());
    for (const w of waiters) w();
  });
  ws.on('error', () => {});
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`refused with HTTP ${res.statusCode}`)));
  });
  const waitFor = (n: number, ms = 5000) =>
    new Promise<string[]>((resolve, reject) => {
      const check = () => {
        if (received.length < n) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(received);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`got ${received.length} of ${n} messages`));
      }, ms);
      waiters.add(check);
      check();
    });
  return { ws, received, closed, waitFor };
}

export function closeClients(): void {
  for (const ws of clients) ws.terminate();
}
