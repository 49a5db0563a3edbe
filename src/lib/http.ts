// The HTTP app every service builds on: request ids, one error table, OpenAPI, /healthz and /metrics.
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import Fastify, {
  LogController,
  type FastifyError,
  type FastifyInstance,
  type FastifyBaseLogger,
  type FastifyReply,
} from 'fastify';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import * as prom from 'prom-client';
import { errorBodyOf, httpStatusOf, isAppError, type ErrorBody } from './errors.ts';
import type { Logger } from './log.ts';

export type App = FastifyInstance<
  import('node:http').Server,
  import('node:http').IncomingMessage,
  import('node:http').ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

export interface AppOptions {
  service: string;
  log: Logger;
  description: string;
  /** Extra readiness checks for /healthz (database ping and the like). */
  health?: () => Promise<void>;
}

/** Takes an incoming X-Request-Id when it is well-formed, else makes one. */
export function requestIdOf(header: unknown): string {
  return typeof header === 'string' && REQUEST_ID_RE.test(header) ? header : randomUUID();
}

export async function createApp(opts: AppOptions): Promise<App> {
  const app = Fastify({
    loggerInstance: opts.log,
    // Per-request lines are noise; only 5xx are logged (by the error handler, with the request id).
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: (req) => requestIdOf(req.headers['x-request-id']),
    bodyLimit: 1 << 20,
    ajv: {
      // Wrong types are refused, not coerced: {"cpu": "2"} is a 400, not a 2.
      customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false, useDefaults: true },
    },
    // The router's own refusals (bad percent-encoding, an over-long parameter) and HTTP parse errors skip the
    // hooks and the error handler: answer them in the one error shape too, with the request id.
    frameworkErrors: (err, req, reply) => {
      const error =
        err.code === 'FST_ERR_BAD_URL'
          ? 'malformed URL: bad percent-encoding'
          : err.code === 'FST_ERR_MAX_PARAM_LENGTH'
            ? 'path parameter too long'
            : err.message;
      void (reply as unknown as FastifyReply)
        .status(err.statusCode ?? 400)
        .header('x-request-id', req.id)
        .send({ error });
    },
    clientErrorHandler: (err: NodeJS.ErrnoException, socket) => {
      if (err.code === 'ECONNRESET' || socket.destroyed) return;
      const status =
        err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
      const body = JSON.stringify({
        error:
          status === 431
            ? 'request headers too large'
            : status === 408
              ? 'request timed out'
              : 'malformed HTTP request',
      });
      if (socket.writable)
        socket.write(
          `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
      socket.destroy(err);
    },
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as App;

  // Request bodies are closed unless their schema says otherwise: a key no schema names is refused (400
  // naming it) rather than carried into a use case that may write it as a column (the fuzzer found two).
  app.addHook('onRoute', (route) => {
    const body = route.schema?.body as { type?: unknown; additionalProperties?: unknown } | undefined;
    if (body?.type === 'object' && body.additionalProperties === undefined)
      route.schema = { ...route.schema, body: { ...body, additionalProperties: false } };
  });

  const registry = new prom.Registry();
  registry.setDefaultLabels({ service: opts.service });
  prom.collectDefaultMetrics({ register: registry });
  const httpDuration = new prom.Histogram({
    name: 'kloudak_http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [registry],
  });
  app.decorate('metrics', registry);

  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });
  app.addHook('onResponse', async (req, reply) => {
    httpDuration.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unknown', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const { status, body } = errorAnswer(err);
    if (status >= 500)
      req.log.error({ err, reqId: req.id, url: req.url, method: req.method }, 'request failed');
    void reply.status(status).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({ error: `no route ${req.method} ${req.url.split('?')[0]}` });
  });

  await app.register(swagger, {
    openapi: {
      info: { title: `Kloudak ${opts.service}`, description: opts.description, version: '0.1.0' },
      components: {
        securitySchemes: {
          token: { type: 'apiKey', in: 'header', name: 'token' },
          bearer: { type: 'http', scheme: 'bearer' },
        },
      },
      security: [{ token: [] }, { bearer: [] }],
    },
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get('/healthz', { schema: { hide: true } }, async (_req, reply) => {
    try {
      await opts.health?.();
      return { status: 'ok', service: opts.service };
    } catch (e) {
      return reply
        .status(503)
        .send({ status: 'unavailable', service: opts.service, error: (e as Error).message });
    }
  });
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    void reply.header('content-type', registry.contentType);
    return registry.metrics();
  });
  return app;
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: prom.Registry;
  }
}

function errorAnswer(err: FastifyError): { status: number; body: ErrorBody } {
  if (isAppError(err)) {
    return { status: httpStatusOf(err.kind), body: errorBodyOf(err) };
  }
  if (err.validation && err.validation.length) {
    const v = err.validation[0];
    const params = v.params;
    const path = (v.instancePath || '').split('/').filter(Boolean).join('.');
    const missing = typeof params.missingProperty === 'string' ? params.missingProperty : undefined;
    const extra = typeof params.additionalProperty === 'string' ? params.additionalProperty : undefined;
    const field = [path, missing ?? extra].filter(Boolean).join('.') || err.validationContext || 'body';
    const what = missing
      ? 'is required'
      : extra
        ? 'is not a known field'
        : extra === ''
          ? 'has a field with an empty name'
          : (v.message ?? 'is invalid');
    return { status: 400, body: { error: `${field} ${what}`, field } };
  }
  if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
    return { status: 415, body: { error: 'body: unsupported content type', field: 'body' } };
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return { status: 413, body: { error: 'body: too large', field: 'body' } };
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
    const field = err.code?.startsWith('FST_ERR_CTP') || err instanceof SyntaxError ? 'body' : undefined;
    return {
      status: err.statusCode,
      body: field ? { error: `body: ${err.message}`, field } : { error: err.message },
    };
  }
  if (isDatabaseUnavailable(err)) return { status: 503, body: { error: 'database unavailable; try again' } };
  return { status: 500, body: { error: 'internal error' } };
}

// PostgreSQL restarting or unreachable: a 503 tells clients to retry; nothing was written.
const DB_DOWN_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08001',
  '08003',
  '08006',
]);
function isDatabaseUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && DB_DOWN_CODES.has(code)) return true;
  return /Connection terminated|connection timeout|the database system is (starting up|shutting down)/i.test(
    String((err as Error)?.message ?? ''),
  );
}

/** Listens and answers the bound port (0 picks a free one, for tests). */
export async function listen(app: App, host: string, port: number): Promise<number> {
  await app.listen({ host, port });
  const addr = app.server.address();
  return typeof addr === 'object' && addr ? addr.port : port;
}
