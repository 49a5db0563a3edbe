// Outbound HTTP with a timeout and retries: every call another service makes goes through here. Over
// node:http with kept-alive connections: one write per request (headers and body together), where fetch
// (undici) costs twice the CPU per call on the services' hot path (an accept calls inventory once).
import http from 'node:http';
import https from 'node:https';
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

// An idle connection is dropped after 4 s, before any server closes it (Node's default keep-alive is 5 s,
// Fastify's 72 s): a request is not sent on a connection the server is closing.
const agentOptions = { keepAlive: true, maxSockets: 64, timeout: 4000 };
const agents = { 'http:': new http.Agent(agentOptions), 'https:': new https.Agent(agentOptions) };

/** One request: the status and the body's text. */
function send(
  method: string,
  url: URL,
  headers: Record<string, string>,
  payload: string | undefined,
  timeoutMs: number,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const https_ = url.protocol === 'https:';
    const req = (https_ ? https : http).request(
      url,
      { method, headers, agent: https_ ? agents['https:'] : agents['http:'] },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', reject);
      },
    );
    const timer = setTimeout(() => req.destroy(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      // A kept-alive connection the server closed just as it was reused: the request never got there.
      reject(req.reusedSocket && e.code === 'ECONNRESET' ? Object.assign(e, { unsent: true }) : e);
    });
    req.end(payload);
  });
}

/** Answers any HTTP status; throws `unavailable` only when the peer cannot be reached (or answers 5xx) after the retries. */
export async function callJson<T = unknown>(
  method: string,
  url: string,
  opts: CallOptions = {},
): Promise<Answer<T>> {
  const retries = opts.retries ?? (method === 'GET' || method === 'PUT' || method === 'DELETE' ? 3 : 0);
  const target = new URL(url);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.requestId) headers['x-request-id'] = opts.requestId;
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  if (payload !== undefined) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(Buffer.byteLength(payload));
  }
  let lastError = '';
  for (let attempt = 0, unsent = 0; attempt <= retries; attempt++) {
    if (attempt) await sleep((opts.retryWait ?? 0.2) * 1000 * attempt);
    try {
      const res = await send(method, target, headers, payload, (opts.timeout ?? 10) * 1000);
      const body = res.text ? (safeJson(res.text) as T) : (undefined as T);
      if (res.status >= 500 && attempt < retries) {
        lastError = `${res.status}`;
        continue;
      }
      return { status: res.status, body };
    } catch (e) {
      lastError = (e as Error).message;
      // Never sent: safe to send again, even a POST (once).
      if ((e as { unsent?: boolean }).unsent && unsent++ === 0) attempt--;
    }
  }
  throw unavailable(`${target.host} unreachable: ${lastError}`);
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
