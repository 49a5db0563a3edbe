// What every CLI command shares: the config file, authenticated calls to inventory and the controller (the
// token renewed through the login session when it expires), and the mapping of answers to exit codes.
import type { Command } from 'commander';
import { configPath, readConfig, writeConfig, type CliConfig } from '../config-file.ts';

/** Exit codes (docs/cli.md). */
export const EXIT = { ok: 0, failed: 1, usage: 2, auth: 3, notFound: 4, unavailable: 5 } as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly code: number,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usage = (message: string, field?: string) => new CliError(message, EXIT.usage, field);

export function exitCodeOfStatus(status: number): number {
  if (status === 401 || status === 403) return EXIT.auth;
  if (status === 404) return EXIT.notFound;
  if (status >= 400 && status < 500) return EXIT.usage;
  return EXIT.unavailable;
}

/** The cookie inventory's /login/ sets; the CLI keeps it to renew tokens (/get_token/). */
const SESSION_COOKIE = 'kloudak_session';

export interface RequestOptions {
  body?: unknown;
  /** Seconds before the call gives up. */
  timeout?: number;
  /** Answer undefined on 404 instead of failing. */
  allow404?: boolean;
  /** Skip the token (login). */
  anonymous?: boolean;
  signal?: AbortSignal;
}

export interface Raw {
  status: number;
  /** The answer's JSON (unchecked: the caller says what it expects). */
  body: unknown;
  headers: Headers;
}

export async function rawRequest(
  method: string,
  url: string,
  headers: Record<string, string>,
  body: unknown,
  timeout = 30,
  signal?: AbortSignal,
): Promise<Raw> {
  const h: Record<string, string> = { accept: 'application/json', ...headers };
  if (body !== undefined) h['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: signal
        ? AbortSignal.any([signal, AbortSignal.timeout(timeout * 1000)])
        : AbortSignal.timeout(timeout * 1000),
    });
  } catch (e) {
    const err = e as Error & { cause?: { code?: string; message?: string } };
    const why =
      err.name === 'TimeoutError'
        ? `no answer in ${timeout} s`
        : (err.cause?.code ?? err.cause?.message ?? err.message);
    throw new CliError(`cannot reach ${new URL(url).host}: ${why}`, EXIT.unavailable);
  }
  const text = await res.text();
  let parsed: unknown = undefined;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = { error: text.slice(0, 200) };
    }
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

export function errorOf(r: Raw, what?: string): CliError {
  const b = (r.body ?? {}) as { error?: string; field?: string };
  const msg = b.error ?? `status ${r.status}`;
  return new CliError(what ? `${what}: ${msg}` : msg, exitCodeOfStatus(r.status), b.field);
}

export function sessionOf(headers: Headers): string | undefined {
  for (const c of headers.getSetCookie()) {
    const m = new RegExp(`^${SESSION_COOKIE}=([^;]*)`).exec(c);
    if (m?.[1]) return m[1];
  }
  return undefined;
}

export class Client {
  readonly path: string;
  cfg: CliConfig;

  constructor(path: string) {
    this.path = path;
    try {
      this.cfg = readConfig(path);
    } catch (e) {
      throw usage(`config file ${path}: ${(e as Error).message}`);
    }
  }

  /** The client of a command, from the global --config option. */
  static of(cmd: Command): Client {
    const { config } = cmd.optsWithGlobals<{ config?: string }>();
    return new Client(configPath(config));
  }

  save(): void {
    writeConfig(this.path, this.cfg);
  }

  private need(key: 'inventory_url' | 'controller_url' | 'notification_url'): string {
    const v = this.cfg[key];
    if (!v || !this.cfg.token) throw new CliError('not logged in: run kloudak login', EXIT.auth);
    return v.replace(/\/+$/, '');
  }

  get notificationUrl(): string {
    return this.need('notification_url');
  }

  get controllerUrl(): string {
    return this.need('controller_url');
  }

  get token(): string {
    if (!this.cfg.token) throw new CliError('not logged in: run kloudak login', EXIT.auth);
    return this.cfg.token;
  }

  /** The workspace of a command: --workspace, else the default set by `workspaces use`. */
  workspace(given?: string): string {
    if (!this.cfg.token) throw new CliError('not logged in: run kloudak login', EXIT.auth);
    const ws = given ?? this.cfg.workspace;
    if (!ws)
      throw usage(
        'no workspace: give --workspace <ws> or set a default with kloudak workspaces use <ws>',
        'workspace',
      );
    return ws;
  }

  /** A fresh token from the login session; false when there is none or it expired. */
  async renewToken(): Promise<boolean> {
    if (!this.cfg.session || !this.cfg.inventory_url) return false;
    const r = await rawRequest(
      'GET',
      `${this.cfg.inventory_url}/get_token/`,
      { cookie: `${SESSION_COOKIE}=${this.cfg.session}` },
      undefined,
    );
    const token = (r.body as { token?: unknown } | undefined)?.token;
    if (r.status !== 200 || typeof token !== 'string') return false;
    this.cfg.token = token;
    this.save();
    return true;
  }

  private async call<T>(
    base: 'inventory_url' | 'controller_url',
    method: string,
    path: string,
    o: RequestOptions = {},
  ): Promise<T> {
    const url = `${this.need(base)}${path}`;
    const once = () =>
      rawRequest(
        method,
        url,
        o.anonymous ? {} : { authorization: `Bearer ${this.token}` },
        o.body,
        o.timeout,
        o.signal,
      );
    // Reads are safe to repeat: a few tries ride over a restarting instance.
    const send = async () => {
      for (let attempt = 0; ; attempt++) {
        try {
          const r = await once();
          if (method !== 'GET' || r.status < 500 || attempt >= 2) return r;
        } catch (e) {
          if (method !== 'GET' || attempt >= 2 || o.signal?.aborted) throw e;
        }
        await new Promise((res) => setTimeout(res, 500 * (attempt + 1)));
      }
    };
    let r = await send();
    // An expired token, or one minted before a workspace or permission change: renew once and retry.
    if ((r.status === 401 || r.status === 403) && !o.anonymous && (await this.renewToken())) r = await send();
    if (r.status === 404 && o.allow404) return undefined as T;
    if (r.status < 200 || r.status >= 300) {
      if (r.status === 401) {
        const e = errorOf(r);
        throw new CliError(`${e.message} (log in again: kloudak login)`, EXIT.auth);
      }
      throw errorOf(r);
    }
    return r.body as T;
  }

  /** An inventory call answering T (a contract type: src/lib/contracts/inventory.ts). */
  inventory<T>(method: string, path: string, o?: RequestOptions): Promise<T> {
    return this.call<T>('inventory_url', method, path, o);
  }

  /** A controller call answering T (a contract type: src/lib/contracts/controller.ts). */
  controller<T>(method: string, path: string, o?: RequestOptions): Promise<T> {
    return this.call<T>('controller_url', method, path, o);
  }

  /** Every item of a paginated inventory list (`?limit=&marker=`). */
  async list<T extends { name: string }>(path: string, key: string): Promise<T[]> {
    const out: T[] = [];
    const limit = 1000;
    for (;;) {
      const sep = path.includes('?') ? '&' : '?';
      const marker = out.length ? `&marker=${encodeURIComponent(out[out.length - 1].name)}` : '';
      const page =
        (await this.inventory<Record<string, T[]>>('GET', `${path}${sep}limit=${limit}${marker}`))[key] ?? [];
      out.push(...page);
      if (page.length < limit) return out;
    }
  }
}

export const seg = (s: string) => encodeURIComponent(s);
