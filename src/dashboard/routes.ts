// The dashboard (DESIGN "Services"), served on inventory's port but no part of inventory (it uses nothing
// of it): the built single-page app (web/dist) at /, with index.html for client routes, plus two forwarders
// that make the page's origin the only one it talks to:
//   /api/controller/*            -> CONTROLLER_URL/*           (HTTP: the controller's API, 202s and all)
//   /api/notification/<ws>/<tk>  -> NOTIFICATION_URL/<ws>/<tk> (websocket upgrade, piped both ways)
//   /api/console/<ws>/<vm>/      -> CONTROLLER_URL/console/<ws>/<vm>/ (a VM's console: websocket, piped)
// Same origin means no CORS on any service (a `token` header would preflight every call), the session
// cookie never needs to cross origins, and one reverse proxy (TLS) in front of :5000 serves everything.
// Client routes never end in "/" and API routes always do, so the fallback cannot shadow an API path.
import { realpath, readFile, stat } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../lib/config.ts';
import { isAppError, unavailable } from '../lib/errors.ts';
import type { App } from '../lib/http.ts';

export interface DashboardOptions {
  /** Supplies the defaults below: CONTROLLER_URL, NOTIFICATION_URL, HTTP_TIMEOUT. */
  config?: Partial<Config>;
  /** The built app; default web/dist of this checkout. */
  distDir?: string;
  controllerUrl?: string;
  notificationUrl?: string;
  /** Monitoring's stats API (its GET /stats/... answer /api/stats/...); while it does not answer, 503. */
  statsUrl?: string;
}

export const DEFAULT_DIST = fileURLToPath(new URL('../../web/dist/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

// The page talks to its own origin only (fetch and websockets); styles come from its bundle and inline
// style attributes (charts, progress bars).
const CSP =
  "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>Kloudak</title>
<p style="font:16px system-ui;margin:3em">The dashboard is not built on this server: run <code>npm run build:web</code>.
The API is up: see <a href="/openapi.json">/openapi.json</a>.</p>`;

// Request headers worth passing to the controller, and answer headers worth passing back.
const FORWARD_REQUEST = ['token', 'authorization', 'content-type', 'accept'];
const FORWARD_ANSWER = ['content-type', 'retry-after', 'cache-control'];

const API_PREFIX = '/api/controller';
const WS_PREFIX = '/api/notification/';
const CONSOLE_PREFIX = '/api/console/';
const STATS_PREFIX = '/api/stats';

export async function dashboardRoutes(app: App, opts: DashboardOptions = {}): Promise<void> {
  const dist = await realpath(opts.distDir ?? DEFAULT_DIST).catch(() => undefined);
  const controllerUrl = (
    opts.controllerUrl ??
    opts.config?.CONTROLLER_URL ??
    'http://127.0.0.1:8000'
  ).replace(/\/+$/, '');
  const notificationUrl = opts.notificationUrl ?? opts.config?.NOTIFICATION_URL ?? 'ws://127.0.0.1:3000';
  const statsUrl = (opts.statsUrl ?? opts.config?.STATS_URL)?.replace(/\/+$/, '');
  const timeoutMs = ((opts.config?.HTTP_TIMEOUT ?? 10) + 125) * 1000; // task waits last up to 120 s

  await app.register(async (scope) => {
    // Bodies pass through untouched: the controller validates them itself.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    scope.all(`${API_PREFIX}/*`, async (req, reply) =>
      forward(req, reply, controllerUrl, API_PREFIX, timeoutMs, 'controller'),
    );
    // While monitoring does not answer, the charts say "no data yet": an expected 503 answer, not a fault to
    // log with a stack (the forwarder notes the unreachable service in one line).
    scope.get(`${STATS_PREFIX}/*`, async (req, reply) => {
      const noData = (why: string) => reply.status(503).send({ error: `no data yet: ${why}` });
      if (!statsUrl) return noData('the monitoring stats API is not configured');
      try {
        return await forward(req, reply, `${statsUrl}/stats`, STATS_PREFIX, 30_000, 'monitoring');
      } catch (e) {
        if (isAppError(e) && e.kind === 'unavailable') return noData(e.message);
        throw e;
      }
    });
  });

  const sendIndex = async (reply: FastifyReply) => {
    const html = dist ? await readFile(join(dist, 'index.html')).catch(() => undefined) : undefined;
    void reply
      .header('cache-control', 'no-cache')
      .header('content-security-policy', CSP)
      .header('x-frame-options', 'DENY');
    void reply.header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer');
    if (!html) return reply.status(503).type('text/html; charset=utf-8').send(NOT_BUILT);
    return reply.type('text/html; charset=utf-8').send(html);
  };

  app.get('/', async (_req, reply) => sendIndex(reply));
  app.get('/*', async (req, reply) => {
    const path = req.url.split('?')[0];
    const file = dist ? await staticFile(dist, path) : undefined;
    if (file) {
      const immutable = path.startsWith('/assets/');
      void reply.header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
      void reply.header('x-content-type-options', 'nosniff');
      return reply
        .type(TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream')
        .send(await readFile(file));
    }
    // A page of the app (no trailing slash) asked for by a browser gets the app; anything else (scripts,
    // missing assets, API paths) keeps the API's JSON 404.
    const wantsHtml = String(req.headers.accept ?? '').includes('text/html');
    if (wantsHtml && !path.endsWith('/') && !path.startsWith('/api/')) return sendIndex(reply);
    return reply.status(404).send({ error: `no route ${req.method} ${path}` });
  });

  proxyWebsockets(app, [
    { prefix: WS_PREFIX, target: notificationUrl, path: '/' },
    { prefix: CONSOLE_PREFIX, target: controllerUrl.replace(/^http/, 'ws'), path: '/console/' },
  ]);
}

/** The file under `dist` that a URL path names, or undefined: never anything outside it. */
export async function staticFile(dist: string, urlPath: string): Promise<string | undefined> {
  let rel: string;
  try {
    rel = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (
    rel.includes('\0') ||
    rel.includes('\\') ||
    rel.split('/').some((s) => s === '..' || (s.startsWith('.') && s.length > 1))
  )
    return undefined;
  const candidate = normalize(join(dist, rel));
  if (!candidate.startsWith(dist + sep)) return undefined;
  try {
    const real = await realpath(candidate);
    if (!real.startsWith(dist + sep) || !(await stat(real)).isFile()) return undefined;
    return real;
  } catch {
    return undefined;
  }
}

async function forward(
  req: FastifyRequest,
  reply: FastifyReply,
  base: string,
  prefix: string,
  timeoutMs: number,
  what: string,
) {
  const target = base + req.url.slice(prefix.length);
  const headers: Record<string, string> = { 'x-request-id': req.id };
  for (const h of FORWARD_REQUEST) {
    const v = req.headers[h];
    if (typeof v === 'string') headers[h] = v;
  }
  const hasBody =
    req.method !== 'GET' && req.method !== 'HEAD' && Buffer.isBuffer(req.body) && req.body.length > 0;
  let res: Response;
  try {
    res = await fetch(target, {
      method: req.method,
      headers,
      body: hasBody ? new Uint8Array(req.body as Buffer) : undefined,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    req.log.warn(
      { err: (e as Error).message, reqId: req.id },
      `${what} unreachable from the dashboard forwarder`,
    );
    throw unavailable(`the ${what} service is unreachable; try again`);
  }
  for (const h of FORWARD_ANSWER) {
    const v = res.headers.get(h);
    if (v) void reply.header(h, v);
  }
  const location = res.headers.get('location');
  if (location) void reply.header('location', location.startsWith('/') ? prefix + location : location);
  const body = Buffer.from(await res.arrayBuffer());
  return reply.status(res.status).send(body);
}

/** Pipes websocket upgrades under each prefix to its service (close codes included): the room to the
 * notification service, a VM's console to the controller (which checks the token and permission itself). */
function proxyWebsockets(app: App, routes: { prefix: string; target: string; path: string }[]): void {
  const targets = routes.map((r) => {
    const target = new URL(r.target);
    const secure = target.protocol === 'wss:';
    return {
      ...r,
      target,
      secure,
      port: Number(target.port || (secure ? 443 : 80)),
      basePath: target.pathname.replace(/\/+$/, '') + r.path,
    };
  });
  const open = new Set<Duplex>();

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = req.url ?? '/';
    const route = targets.find((t) => url.startsWith(t.prefix));
    if (!route) {
      // Nothing else on this port takes upgrades.
      if (app.server.listenerCount('upgrade') === 1)
        socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\n\r\n');
      return;
    }
    const { target, secure, port, basePath } = route;
    socket.on('error', () => socket.destroy());
    const upstream: Socket = secure
      ? tlsConnect({ host: target.hostname, port, servername: target.hostname })
      : netConnect({ host: target.hostname, port });
    open.add(socket);
    open.add(upstream);
    const done = () => {
      open.delete(socket);
      open.delete(upstream);
      socket.destroy();
      upstream.destroy();
    };
    upstream.on('error', () => {
      if (socket.writable && !upstream.bytesRead)
        socket.end('HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\n\r\n');
      done();
    });
    upstream.on('close', done);
    socket.on('close', done);
    upstream.once(secure ? 'secureConnect' : 'connect', () => {
      // A room's token is in its path, a console's in a header: never log either.
      const lines = [`GET ${basePath}${url.slice(route.prefix.length)} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const name = req.rawHeaders[i];
        if (name.toLowerCase() === 'host') continue;
        lines.push(`${name}: ${req.rawHeaders[i + 1]}`);
      }
      lines.push(`Host: ${target.host}`, `X-Forwarded-For: ${req.socket.remoteAddress ?? ''}`);
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
  };
  app.server.on('upgrade', onUpgrade);
  app.addHook('preClose', async () => {
    app.server.off('upgrade', onUpgrade);
    for (const s of open) s.destroy();
  });
}
