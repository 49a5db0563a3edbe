// Outbound HTTP with a timeout and retries: every call another service makes goes through here.
import { AppError, kindOfStatus, unavailable } from './errors.ts';

export interface CallOptions {
  token?: string;
  requestId?: string;
  body?: unknown;
  /** Seconds before one attempt gives up. */
  timeout?: number;
  /** Attempts after the first; only for calls that are safe to repeat. */
  retries?: number;
  retryWait?: number;
}

export interface Answer<T = unknown> {
  status: number;
  body: T;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Answers any HTTP status; throws `unavailable` only when the peer cannot be reached (or answers 5xx) after the retries. */
export async function callJson<T = unknown>(
  method: string,
  url: string,
  opts: CallOptions = {},
): Promise<Answer<T>> {
  const retries = opts.retries ?? (method === 'GET' || method === 'PUT' || method === 'DELETE' ? 3 : 0);
  let lastError = '';
  for (let attempt = 0; attempt <= retries; attempt++) {
    if (attempt) await sleep((opts.retryWait ?? 0.2) * 1000 * attempt);
    try {
      const headers: Record<string, string> = { accept: 'application/json' };
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      if (opts.requestId) headers['x-request-id'] = opts.requestId;
      if (opts.body !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(url, {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: AbortSignal.timeout((opts.timeout ?? 10) * 1000),
      });
      const text = await res.text();
      const body = text ? (safeJson(text) as T) : (undefined as T);
      if (res.status >= 500 && attempt < retries) {
        lastError = `${res.status}`;
        continue;
      }
      return { status: res.status, body };
    } catch (e) {
      lastError = (e as Error).message;
    }
  }
  throw unavailable(`${new URL(url).host} unreachable: ${lastError}`);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { error: text.slice(0, 200) };
  }
}

/** Turns a non-2xx answer into the matching AppError, keeping the peer's message and field. */
export function expectOk<T>(a: Answer<T>, what: string): T {
  if (a.status >= 200 && a.status < 300) return a.body;
  const b = (a.body ?? {}) as { error?: string; field?: string };
  const kind = kindOfStatus(a.status) ?? 'unavailable';
  throw new AppError(kind, `${what}: ${b.error ?? `status ${a.status}`}`, b.field);
}
