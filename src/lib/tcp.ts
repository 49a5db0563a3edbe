// Whether a TCP endpoint answers: how monitoring tells a cut-off host from a slow one, and how the lab knows
// a restored host is back.
import { connect } from 'node:net';

/** A TCP connection to host:port within timeoutMs, closed at once. */
export function tcpReach(host: string, port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host, port });
    const done = (e?: Error) => {
      clearTimeout(timer);
      sock.destroy();
      if (e) reject(e);
      else resolve();
    };
    const timer = setTimeout(
      () => done(new Error(`${host}:${port} unreachable: no answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    sock.once('connect', () => done());
    sock.once('error', (e) => done(new Error(`${host}:${port} unreachable: ${e.message}`)));
  });
}
