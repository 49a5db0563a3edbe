// Talking to Kloudak from the page. Everything is same-origin: inventory's API at its own paths, the
// controller through inventory's /api/controller/ forwarder, the workspace room at /api/notification/.
// Errors are the APIs' own {error, field}, kept as ApiError so forms can put them next to the field.

import {
  ALL_PERMISSIONS,
  ADMIN_CLAIM,
  NO_PERMISSIONS,
  PERMISSIONS as FLAGS,
  type Permissions,
} from '../../src/lib/permissions.ts';
import type { Account, PlacedVm } from '../../src/lib/contracts/inventory.ts';
export type { Snapshot } from '../../src/lib/contracts/snapshots.ts';
export { PERMISSIONS, type Permission } from '../../src/lib/permissions.ts';
import type {
  Accepted as ControllerAccepted,
  HostTarget,
  VmAccepted,
  VmMigrate,
  VmPower,
} from '../../src/lib/contracts/controller.ts';
import type { TaskEvent, VmMoved } from '../../src/lib/contracts/events.ts';
import type { SgRule } from '../../src/lib/contracts/secgroups.ts';
export type Perms = Permissions;
export const NO_PERMS = NO_PERMISSIONS;
export const ALL_PERMS = ALL_PERMISSIONS;

export interface Claims {
  username: string;
  email?: string;
  exp: number;
  admin: boolean;
  /** Workspace name -> the caller's permissions there, from /account/ (what every service checks). */
  workspaces: Record<string, Perms>;
  /** The workspaces the caller owns (it alone deletes, renames or hands them over). */
  owns: string[];
}

/** The token's payload, read without checking it (the services check it; the page only needs to know). */
export function decodeClaims(token: string): Claims {
  const part = token.split('.')[1] ?? '';
  const json = atob(
    part
      .replace(/-/g, '+')
      .replace(/_/g, '/')
      .padEnd(Math.ceil(part.length / 4) * 4, '='),
  );
  const payload = JSON.parse(
    new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0))),
  ) as Record<string, unknown>;
  return {
    username: String(payload.username ?? ''),
    email: typeof payload.email === 'string' ? payload.email : undefined,
    exp: typeof payload.exp === 'number' ? payload.exp : 0,
    admin: payload[ADMIN_CLAIM] === true,
    workspaces: {},
    owns: [],
  };
}

/**
 * The caller's workspaces and flags now (a token says who you are, not what you may do), read with `token`
 * directly: it runs while a token is being renewed, so it must not renew one itself.
 */
export async function workspacesOf(token: string): Promise<Pick<Claims, 'workspaces' | 'owns'> | undefined> {
  const res = await fetch('/account/', { headers: { token, accept: 'application/json' } }).catch(
    () => undefined,
  );
  if (!res?.ok) return undefined;
  const account = (await res.json()) as Account;
  const workspaces: Record<string, Perms> = {};
  for (const w of account.workspaces)
    workspaces[w.name] = Object.fromEntries(FLAGS.map((f) => [f, w.owner || w[f]])) as Perms;
  return { workspaces, owns: account.workspaces.filter((w) => w.owner).map((w) => w.name) };
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function asApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  return new ApiError(0, e instanceof Error ? e.message : String(e));
}

// The token lives in memory only; the session cookie (httpOnly) gets a fresh one after a reload.
let token: string | undefined;
let renew: (() => Promise<string | undefined>) | undefined;
let signedOut: (() => void) | undefined;

export function setToken(t: string | undefined): void {
  token = t;
}
export function getToken(): string | undefined {
  return token;
}
/** How a 401 is recovered from (a fresh token from the session), and what to do when it cannot be. */
export function onAuthTrouble(
  renewToken: () => Promise<string | undefined>,
  whenSignedOut: () => void,
): void {
  renew = renewToken;
  signedOut = whenSignedOut;
}

type Service = 'inventory' | 'controller' | 'stats';
const BASE: Record<Service, string> = { inventory: '', controller: '/api/controller', stats: '/api/stats' };

async function once(method: string, url: string, body: unknown, auth: boolean): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (auth && token) headers.token = token;
  if (body !== undefined) headers['content-type'] = 'application/json';
  return fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
}

/** Calls an API and answers its JSON; throws ApiError with the API's message and field. */
export async function call<T = any>(
  method: string,
  path: string,
  body?: unknown,
  service: Service = 'inventory',
  auth = true,
): Promise<T> {
  const url = BASE[service] + path;
  let res: Response;
  try {
    res = await once(method, url, body, auth);
    if (res.status === 401 && auth && renew) {
      const fresh = await renew().catch(() => undefined);
      if (fresh) res = await once(method, url, body, auth);
      else signedOut?.();
    }
  } catch {
    throw new ApiError(0, 'the server cannot be reached; check your connection');
  }
  const text = await res.text();
  let parsed: any;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  if (!res.ok) {
    const message = typeof parsed?.error === 'string' ? parsed.error : `${res.status} ${res.statusText}`;
    throw new ApiError(res.status, message, typeof parsed?.field === 'string' ? parsed.field : undefined);
  }
  return parsed as T;
}

/** A GET answering text (a console's log). */
export async function getText(path: string, service: Service = 'controller'): Promise<string> {
  const res = await once('GET', BASE[service] + path, undefined, true).catch(() => {
    throw new ApiError(0, 'the server cannot be reached; check your connection');
  });
  const text = await res.text();
  if (!res.ok) {
    let parsed: { error?: unknown; field?: unknown } = {};
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      // not JSON
    }
    throw new ApiError(
      res.status,
      typeof parsed.error === 'string' ? parsed.error : `${res.status} ${res.statusText}`,
      typeof parsed.field === 'string' ? parsed.field : undefined,
    );
  }
  return text;
}

/** Every item of a list, page after page (a list answers 100 by default, at most 1,000 at a time). */
async function listAll<T extends { name: string }>(path: string, key: string): Promise<T[]> {
  const out: T[] = [];
  for (;;) {
    const marker = out.length ? `&marker=${encodeURIComponent(out[out.length - 1].name)}` : '';
    const page = (await call<Record<string, T[]>>('GET', `${path}?limit=1000${marker}`))[key] ?? [];
    out.push(...page);
    if (page.length < 1000) return out;
  }
}

/** Every VM placed on a host, each with its workspace: one read per host (GET /hosts/<name>/vms/), whatever
 * the number of workspaces. */
async function placedVms(): Promise<PlacedVm[]> {
  const hosts = await listAll<{ name: string }>('/hosts/', 'hosts');
  const lists = await Promise.all(
    hosts.map((h) =>
      call<{ vms: PlacedVm[] }>('GET', `/hosts/${encodeURIComponent(h.name)}/vms/`).then(
        (r) => r.vms,
        // A host deleted meanwhile runs no VMs to show.
        () => [],
      ),
    ),
  );
  return lists.flat();
}

export const inv = {
  get: <T = any>(path: string) => call<T>('GET', path),
  /** A whole list: `list<Vm>('/ws/vms/', 'vms')`. */
  list: listAll,
  placedVms,
  post: <T = any>(path: string, body: unknown) => call<T>('POST', path, body),
  put: <T = any>(path: string, body: unknown) => call<T>('PUT', path, body),
  del: <T = any>(path: string) => call<T>('DELETE', path),
};

export const ctl = {
  send: (
    method: 'POST' | 'PUT' | 'DELETE',
    kind: 'vms' | 'networks' | 'routers' | 'interfaces' | 'workspaces' | 'security_groups',
    body: Record<string, unknown>,
  ) => call<Accepted>(method, `/${kind}/`, body, 'controller'),
  get: <T = any>(path: string) => call<T>('GET', path, undefined, 'controller'),
  /** POST /vms/power/: start, stop, reboot or force off a VM. */
  power: (body: VmPower) => call<Accepted>('POST', '/vms/power/', body, 'controller'),
  /** POST /vms/migrate/ (admins): a VM's live move; placement picks the host when none is named. */
  migrate: (body: VmMigrate) => call<Accepted>('POST', '/vms/migrate/', body, 'controller'),
  /** POST /hosts/drain/ or /hosts/restore/ (admins): a host's maintenance. */
  host: (action: 'drain' | 'restore', body: HostTarget) =>
    call<Accepted>('POST', `/hosts/${action}/`, body, 'controller'),
  /** POST /snapshots/, POST /snapshots/revert/, DELETE /snapshots/: a VM's snapshot taken, reverted to, deleted. */
  snapshot: (
    method: 'POST' | 'DELETE',
    path: '/snapshots/' | '/snapshots/revert/',
    body: { owner: string; vm: string; name: string },
  ) => call<Accepted>(method, path, body, 'controller'),
};

export const enc = encodeURIComponent;

// Shapes of what the APIs answer and the room carries: the contracts' own types (types only: nothing of them
// is bundled).
export type { Task } from '../../src/lib/contracts/controller.ts';
/** The controller's 202: the task, and for a VM create the address it got. */
export type Accepted = ControllerAccepted & Partial<Pick<VmAccepted, 'ip'>>;
export type {
  Area,
  Host,
  Member,
  MyInvitation,
  WorkspaceInvitation,
  Network,
  PlacedVm,
  Router,
  RouterInterface,
  SshKey,
  Template,
  Vm,
} from '../../src/lib/contracts/inventory.ts';
export type { SecurityGroup, SgRule } from '../../src/lib/contracts/secgroups.ts';
// The contracts' values, restated: their modules build schemas when loaded, which the page does not bundle. The
// types keep the two in step.
export const DIRECTIONS: SgRule['direction'][] = ['ingress', 'egress'];
export const PROTOCOLS: SgRule['protocol'][] = ['tcp', 'udp', 'icmp', 'any'];
/** The group new VMs join unless told otherwise (src/lib/contracts/secgroups.ts). */
export const DEFAULT_GROUP = 'default';
/** The room of host tasks and VM moves, admins only (src/lib/contracts/common.ts HOST_TASKS). */
export const HOST_TASKS = '_hosts';

/** A room message as the page reads it: an event of src/lib/contracts/events.ts, every field optional (a room
 * carries whatever a service sends). */
export type RoomMessage = Partial<Omit<TaskEvent, 'kind'>> &
  Partial<Omit<VmMoved, 'kind'>> & { kind?: string };
