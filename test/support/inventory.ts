// Starts a real inventory for a test, on PGlite or on the test PostgreSQL server, and gives tokens for it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../src/lib/config.ts';
import { listen } from '../../src/lib/http.ts';
import { createLogger } from '../../src/lib/log.ts';
import { createServiceTokenSource, type ServiceName } from '../../src/lib/servicetoken.ts';
import { serviceKey } from '../../src/lib/secrets.ts';
import { createInventory, type Inventory } from '../../src/inventory/service.ts';
import { PGLITE_TEMPLATE, pgDatabaseUrl } from './env.ts';

export type Backend = 'pglite' | 'postgres';
export const BACKENDS: Backend[] = ['pglite', 'postgres'];

export interface TestInventory {
  url: string;
  config: Config;
  inventory: Inventory;
  adminPassword: string;
  serviceSecret: string;
  adminToken(): Promise<string>;
  serviceToken(service?: ServiceName): Promise<string>;
  /** Signs up a user and answers its login token (fresh, so it carries current memberships). */
  user(name: string, password?: string): Promise<string>;
  login(name: string, password?: string): Promise<string>;
  /**
   * Makes `name` a member of `ws` with `flags`: invited by the holder of `by`, accepted by `name` (logged in
   * with its default test password). Throws unless both worked.
   */
  addMember(ws: string, by: string, name: string, flags?: Record<string, boolean>): Promise<void>;
  call(
    method: string,
    path: string,
    token?: string,
    body?: unknown,
  ): Promise<{ status: number; body: any; headers: Headers }>;
  close(): Promise<void>;
}

export async function startInventory(
  backend: Backend,
  overrides: Partial<Record<string, string>> = {},
): Promise<TestInventory> {
  const dataDir = mkdtempSync(join(tmpdir(), 'kloudak-inv-'));
  const adminPassword = 'admin-password-1';
  const serviceSecret = 'service-secret-for-tests';
  const config = loadConfig(
    {},
    {
      DATA_DIR: dataDir,
      BIND: '127.0.0.1',
      INVENTORY_PORT: '0',
      ADMIN_PASSWORD: adminPassword,
      SERVICE_SECRET: serviceSecret,
      LOG_LEVEL: process.env.KLOUDAK_TEST_LOG ?? 'silent',
      // Tests sign up hundreds of users from 127.0.0.1; the throttle's own test sets a small limit.
      SIGNUP_MAX_PER_ADDRESS: '1000000',
      PGLITE_TEMPLATE,
      ...(backend === 'postgres' ? { INVENTORY_DB: pgDatabaseUrl('kinv') } : {}),
      ...overrides,
    },
  );
  const inventory = await createInventory({ config, log: createLogger('inventory', config.LOG_LEVEL) });
  const port = await listen(inventory.app, '127.0.0.1', 0);
  const url = `http://127.0.0.1:${port}`;

  const call: TestInventory['call'] = async (method, path, token, body) => {
    const headers: Record<string, string> = {};
    if (token) headers.token = token;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(url + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON: keep the text */
    }
    return { status: res.status, body: parsed, headers: res.headers };
  };
  const login = async (name: string, password = `${name}-password`) => {
    const r = await call('POST', '/login/', undefined, { username: name, password });
    if (r.status !== 200) throw new Error(`login ${name}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.token as string;
  };
  const sources = new Map<string, () => Promise<string>>();
  return {
    url,
    config,
    inventory,
    adminPassword,
    serviceSecret,
    adminToken: () => login(config.ADMIN_USER, adminPassword),
    serviceToken: (service = 'controller') => {
      if (!sources.has(service))
        sources.set(service, createServiceTokenSource(url, service, serviceKey(serviceSecret, service)));
      return sources.get(service)!();
    },
    user: async (name, password = `${name}-password`) => {
      const r = await call('POST', '/signup/', undefined, {
        username: name,
        password,
        email: `${name}@example.test`,
      });
      if (r.status !== 201) throw new Error(`signup ${name}: ${r.status} ${JSON.stringify(r.body)}`);
      return login(name, password);
    },
    login,
    addMember: async (ws, by, name, flags = {}) => {
      const r = await call('POST', `/${ws}/users/`, by, { name, ...flags });
      if (r.status !== 202) throw new Error(`invite ${name} to ${ws}: ${r.status} ${JSON.stringify(r.body)}`);
      const a = await call('POST', `/invitations/${ws}/`, await login(name));
      if (a.status !== 201) throw new Error(`${name} accepts ${ws}: ${a.status} ${JSON.stringify(a.body)}`);
    },
    call,
    close: async () => {
      await inventory.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
