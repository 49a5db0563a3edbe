// Starts inventory + notification + controller for a test, on a chosen database backend and bus.
import assert from 'node:assert/strict';
import { createPublicKey, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { createTokenVerifier } from '../../src/lib/auth.ts';
import { inventoryAuthority } from '../../src/lib/authority.ts';
import { createBus } from '../../src/lib/bus/index.ts';
import type { Bus } from '../../src/lib/bus/bus.ts';
import { loadConfig, type Config } from '../../src/lib/config.ts';
import { listen } from '../../src/lib/http.ts';
import { createLogger } from '../../src/lib/log.ts';
import { createNotificationService, type NotificationService } from '../../src/notification/index.ts';
import { createController, type Controller } from '../../src/controller/service.ts';
import { FINISHED_STATUSES } from '../../src/lib/contracts/controller.ts';
import { run } from '../../src/lib/exec.ts';
import { PGLITE_TEMPLATE, pgDatabaseUrl, TEST_AMQP, uniqueName } from './env.ts';
import { startInventory, type Backend, type TestInventory } from './inventory.ts';

export type BusKind = 'memory' | 'amqp';

export interface TestPlatform {
  inv: TestInventory;
  notification: NotificationService;
  controller: Controller;
  controllerUrl: string;
  notificationUrl: string;
  config: Config;
  /** The platform's settings plus `extra`, parsed: for services started beside it (compute, network). */
  serviceConfig(extra?: Record<string, string>): Config;
  /** The bus the services use (in-process: the same object workers must use). */
  bus: Bus;
  /** A second bus connection, as another process would have (the same bus in-process). */
  connectBus(): Promise<Bus>;
  /** Starts another controller on the same database (e.g. after a simulated crash). */
  startController(opts?: { relay?: boolean }): Promise<{ controller: Controller; url: string }>;
  call(
    method: string,
    path: string,
    token?: string,
    body?: unknown,
  ): Promise<{ status: number; body: any; headers: Headers }>;
  /** Sends later calls to this controller (after the first one was stopped). */
  useController(c: { controller: Controller; url: string }): void;
  close(): Promise<void>;
}

export async function startPlatform(
  backend: Backend,
  busKind: BusKind,
  overrides: Record<string, string> = {},
  /** Settings of the platform's inventory (its quotas and per-area ceilings, for instance). */
  inventoryOverrides: Record<string, string> = {},
): Promise<TestPlatform> {
  // RabbitMQ: a virtual host of its own, so a test running in another checkout at the same time never
  // consumes this platform's tasks (the queues' names are the same everywhere).
  let vhost: string | undefined;
  if (busKind === 'amqp' && overrides.BUS === undefined) {
    vhost = uniqueName('kloudak-test');
    await run('rabbitmqctl', ['-q', 'add_vhost', vhost], { timeoutMs: 30_000 });
    const user = decodeURIComponent(new URL(TEST_AMQP).username || 'guest');
    await run('rabbitmqctl', ['-q', 'set_permissions', '-p', vhost, user, '.*', '.*', '.*'], {
      timeoutMs: 30_000,
    });
  }
  const busUrl = vhost ? `${TEST_AMQP.replace(/\/+$/, '')}/${encodeURIComponent(vhost)}` : TEST_AMQP;
  const inv = await startInventory(backend, inventoryOverrides);
  const log = createLogger('test', process.env.KLOUDAK_TEST_LOG ?? 'silent');
  const pem = readFileSync(join(inv.config.DATA_DIR, 'inventory', 'jwt-ed25519.pem'), 'utf8');
  const verifier = createTokenVerifier(createPublicKey(createPrivateKey(pem)));
  const notificationAuth = inventoryAuthority({
    config: { ...inv.config, INVENTORY_URL: inv.url },
    log,
    token: () => inv.serviceToken('notification'),
    verifier,
  });
  const notification = await createNotificationService({
    port: 0,
    host: '127.0.0.1',
    auth: notificationAuth,
    log,
  });
  const notificationUrl = `ws://127.0.0.1:${notification.port}`;
  const settings: Record<string, string> = {
    DATA_DIR: inv.config.DATA_DIR,
    INVENTORY_URL: inv.url,
    NOTIFICATION_URL: notificationUrl,
    SERVICE_SECRET: inv.serviceSecret,
    RETRY_WAIT: '0.2',
    PGLITE_TEMPLATE,
    LOG_LEVEL: process.env.KLOUDAK_TEST_LOG ?? 'silent',
    ...(backend === 'postgres' ? { CONTROLLER_DB: pgDatabaseUrl('kctl') } : {}),
    ...(busKind === 'amqp' ? { BUS: busUrl } : {}),
    ...overrides,
  };
  const config = loadConfig({}, settings);
  const connectBus = () => createBus({ url: config.BUS, journalDir: join(config.DATA_DIR, 'bus'), log });
  const bus = await connectBus();
  const extraBuses: Bus[] = [];
  const controllers: Controller[] = [];
  const startController = async (opts: { relay?: boolean } = {}) => {
    const controller = await createController({ config, log, bus, verifier, relay: opts.relay });
    controllers.push(controller);
    const port = await listen(controller.app, '127.0.0.1', 0);
    return { controller, url: `http://127.0.0.1:${port}` };
  };
  let first = await startController();
  const call: TestPlatform['call'] = async (method, path, token, body) => {
    const headers: Record<string, string> = {};
    if (token) headers.token = token;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(first.url + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
  };
  return {
    inv,
    notification,
    get controller() {
      return first.controller;
    },
    get controllerUrl() {
      return first.url;
    },
    notificationUrl,
    config,
    serviceConfig: (extra = {}) => loadConfig({}, { ...settings, ...extra }),
    bus,
    connectBus: async () => {
      if (busKind === 'memory') return bus;
      const b = await connectBus();
      extraBuses.push(b);
      return b;
    },
    startController,
    call,
    useController: (c) => {
      first = c;
    },
    close: async () => {
      for (const c of controllers.reverse()) await c.close().catch(() => undefined);
      for (const b of extraBuses) await b.close().catch(() => undefined);
      await bus.close();
      await notification.close();
      notificationAuth.close();
      await inv.close();
      if (vhost)
        await run('rabbitmqctl', ['-q', 'delete_vhost', vhost], { timeoutMs: 30_000 }).catch(() => undefined);
    },
  };
}

/** A member of a workspace room that records every message it receives. */
export async function joinRoom(notificationUrl: string, workspace: string, token: string) {
  const ws = new WebSocket(`${notificationUrl}/${workspace}/${token}`);
  const messages: any[] = [];
  ws.on('message', (data) => {
    try {
      messages.push(JSON.parse(String(data)));
    } catch {
      messages.push(String(data));
    }
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`room refused: ${res.statusCode}`)));
  });
  return { messages, close: () => ws.close() };
}

/**
 * A task as it stands once it ended, or after `seconds` (a controller's `?wait=` stops at 120 s a call, so a
 * longer wait is several calls).
 */
export async function waitTask(
  p: Pick<TestPlatform, 'call'>,
  taskId: string,
  token: string,
  seconds: number,
): Promise<{ status: number; body: any }> {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    const left = Math.max(0, Math.ceil((end - Date.now()) / 1000));
    const t = await p.call('GET', `/task/${taskId}/?wait=${Math.min(120, left)}`, token);
    if (t.status !== 200 || FINISHED_STATUSES.includes(t.body.status) || !left) return t;
  }
}

/**
 * An accepted request's task, asserted successful: the request answered 202, and its task ended successful
 * within `seconds`. Answers the finished task; the accept's own answer (what it allocated) stays in `r.body`.
 */
export async function succeeds(
  p: Pick<TestPlatform, 'call'>,
  r: { status: number; body: any },
  token: string,
  seconds = 120,
  what = 'task',
): Promise<any> {
  assert.equal(r.status, 202, `${what}: ${JSON.stringify(r.body)}`);
  const t = await waitTask(p, r.body.task_id, token, seconds);
  assert.equal(t.body.status, 'successful', `${what}: ${JSON.stringify(t.body)}`);
  return t.body;
}

export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 20_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
