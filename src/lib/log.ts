import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

// Secrets never reach a log line, wherever they sit in a logged object.
const REDACT = [
  'password',
  '*.password',
  '*.*.password',
  // A VM's #cloud-config may hold secrets of the user's (passwords, keys, tokens of their own services).
  'user_data',
  '*.user_data',
  '*.*.user_data',
  'token',
  '*.token',
  'secret',
  '*.secret',
  'req.headers.token',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.token',
  'headers.authorization',
  'headers.cookie',
];

// Database errors carry the statement's parameters (PGlite: `params`) and the failing row (`detail`: "Failing
// row contains (...)"), which may hold a guest password or a token: an error is logged without them.
const HIDDEN_ERROR_KEYS = new Set(['params', 'detail', 'queryOptions']);
function withoutValues(v: unknown, depth = 0): unknown {
  if (!v || typeof v !== 'object' || depth > 8) return v;
  if (Array.isArray(v)) return v.map((x) => withoutValues(x, depth + 1));
  return Object.fromEntries(
    Object.entries(v)
      .filter(([k]) => !HIDDEN_ERROR_KEYS.has(k))
      .map(([k, x]) => [k, withoutValues(x, depth + 1)]),
  );
}
const err = (e: unknown) => withoutValues(pino.stdSerializers.err(e as Error));

/** A logger; `destination` (default stdout) lets tests read what would be written. */
export function createLogger(service: string, level = 'info', destination?: DestinationStream): Logger {
  const opts = {
    level,
    base: { service },
    redact: { paths: REDACT, censor: '[redacted]' },
    serializers: { err },
  };
  return destination ? pino(opts, destination) : pino(opts);
}
