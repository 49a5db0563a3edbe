import { pino, type Logger } from 'pino';

export type { Logger };

// Secrets never reach a log line, wherever they sit in a logged object.
const REDACT = [
  'password',
  '*.password',
  '*.*.password',
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

export function createLogger(service: string, level = 'info'): Logger {
  return pino({ level, base: { service }, redact: { paths: REDACT, censor: '[redacted]' } });
}
