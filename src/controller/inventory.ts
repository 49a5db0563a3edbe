// The controller's view of inventory: HTTP calls with the controller's service token, timeouts and retries.
// 404 answers undefined; unreachable answers 503 (the request is refused and nothing is written).
import { AppError } from '../lib/errors.ts';
import { callJson, expectOk } from '../lib/httpclient.ts';

export interface InventoryApi {
  get<T = any>(path: string, requestId: string): Promise<T | undefined>;
  post<T = any>(path: string, body: unknown, requestId: string): Promise<T>;
  put<T = any>(path: string, body: unknown, requestId: string): Promise<T | undefined>;
  /** True when deleted, false when it was already gone. */
  del(path: string, requestId: string): Promise<boolean>;
}

export function createInventoryApi(
  baseUrl: string,
  token: () => Promise<string>,
  timeout = 10,
  retries = 3,
): InventoryApi {
  const call = async (method: string, path: string, requestId: string, body?: unknown) =>
    callJson(method, baseUrl + path, {
      token: await token(),
      requestId,
      body,
      timeout,
      retries: method === 'POST' ? 0 : retries,
    });
  return {
    async get(path, requestId) {
      const a = await call('GET', path, requestId);
      return a.status === 404 ? undefined : expectOk(a, `inventory GET ${path}`);
    },
    async post(path, body, requestId) {
      return expectOk(await call('POST', path, requestId, body), `inventory`);
    },
    async put(path, body, requestId) {
      const a = await call('PUT', path, requestId, body);
      return a.status === 404 ? undefined : expectOk(a, `inventory PUT ${path}`);
    },
    async del(path, requestId) {
      const a = await call('DELETE', path, requestId);
      if (a.status === 404) return false;
      expectOk(a, `inventory DELETE ${path}`);
      return true;
    },
  };
}

export function isConflict(e: unknown): boolean {
  return e instanceof AppError && e.kind === 'conflict';
}
