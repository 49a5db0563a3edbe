// Websocket upgrades refused before the handshake: the client gets a plain HTTP answer in the one error shape
// ({error, field?}), so a browser or a CLI sees why (401, 403, 404, 409) and nothing was opened.
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { httpStatusOf, isAppError } from './errors.ts';

export function refuseUpgrade(socket: Duplex, status: number, body: { error: string; field?: string }): void {
  if (!socket.writable) return void socket.destroy();
  const json = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(json)}\r\nConnection: close\r\n\r\n${json}`,
  );
}

/** An error (an AppError keeps its status and field; anything else is a 500 that says nothing more). */
export function refuseUpgradeWith(socket: Duplex, e: unknown): void {
  if (isAppError(e))
    return refuseUpgrade(socket, httpStatusOf(e.kind), {
      error: e.message,
      ...(e.field ? { field: e.field } : {}),
    });
  refuseUpgrade(socket, 500, { error: 'internal error' });
}

/** The path parameters of `/<prefix>/<ws>/<vm>/` (decoded), or undefined for another path. */
export function pathParams(url: string, prefix: string): [string, string] | undefined {
  const path = url.split('?')[0];
  const m = new RegExp(`^/${prefix}/([^/]+)/([^/]+)/$`).exec(path);
  if (!m) return undefined;
  try {
    return [decodeURIComponent(m[1]), decodeURIComponent(m[2])];
  } catch {
    return undefined;
  }
}
