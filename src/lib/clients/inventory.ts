// Inventory as the other services call it: one typed method per endpoint, written against the contract
// (src/lib/contracts/inventory.ts), every answer checked against its schema on arrival. Calls carry the
// service's token, a timeout and retries (reads and idempotent writes only). A 404 answers undefined (false
// for a delete); an unexpected shape, or inventory unreachable, is `unavailable`.
//
// To add an endpoint: one line with get/post/put/del below, naming its path and its answer's schema.
import {
  ACCEPT_OPS,
  AcceptUndone,
  type AcceptAnswer,
  type AcceptBody,
  type AcceptOp,
} from '../contracts/accepts.ts';
import * as api from '../contracts/inventory.ts';
import * as sg from '../contracts/secgroups.ts';
import * as snap from '../contracts/snapshots.ts';
import { checker, type Checker } from '../contracts/validate.ts';
import { AppError, kindOfStatus, notFound, overQuota, unavailable } from '../errors.ts';
import { callJson, expectOk } from '../httpclient.ts';

export interface CallOptions {
  /** Travels as X-Request-Id, so inventory's log lines of this call carry it. */
  requestId?: string;
}
export interface RemoveOptions extends CallOptions {
  /** Only a record this controller task made (the undo of an interrupted accept). */
  task?: string;
}

/** Objects of a workspace (VMs, networks, routers): members read them, services write them. */
export interface WorkspaceObjects<T, Create, Update> {
  get(ws: string, name: string, o?: CallOptions): Promise<T | undefined>;
  /** Every one, page after page. */
  list(ws: string, o?: CallOptions): Promise<T[]>;
  create(ws: string, body: Create, o?: CallOptions): Promise<T>;
  update(ws: string, name: string, body: Update, o?: CallOptions): Promise<T | undefined>;
  /** True when deleted, false when it was already gone. */
  remove(ws: string, name: string, o?: RemoveOptions): Promise<boolean>;
}

/** What admins register once (templates, areas, hosts, pools). */
export interface CatalogueObjects<T> {
  get(name: string, o?: CallOptions): Promise<T | undefined>;
  /** Every one, page after page: a page never stands for the whole. */
  list(o?: CallOptions): Promise<T[]>;
}

export interface InventoryClient {
  workspaces: {
    get(ws: string, o?: CallOptions): Promise<api.WorkspaceDetail | undefined>;
    update(ws: string, body: api.WorkspaceUpdate, o?: CallOptions): Promise<api.WorkspaceDetail | undefined>;
    /** The last step of a workspace's teardown (it must be marked being deleted); false when already gone. */
    remove(ws: string, o?: CallOptions): Promise<boolean>;
  };
  vms: WorkspaceObjects<api.Vm, api.VmBody, api.VmUpdate>;
  networks: WorkspaceObjects<api.Network, api.NetworkBody, api.NetworkUpdate>;
  routers: WorkspaceObjects<api.Router, api.RouterBody, api.RouterUpdate>;
  securityGroups: WorkspaceObjects<sg.SecurityGroup, sg.SecurityGroupBody, sg.SecurityGroupUpdate>;
  /** A VM's snapshots; list and get answer undefined when the VM is not there. */
  snapshots: {
    list(ws: string, vm: string, o?: CallOptions): Promise<snap.Snapshot[] | undefined>;
    get(ws: string, vm: string, name: string, o?: CallOptions): Promise<snap.Snapshot | undefined>;
    create(ws: string, vm: string, body: snap.SnapshotBody, o?: CallOptions): Promise<snap.Snapshot>;
    update(
      ws: string,
      vm: string,
      name: string,
      body: snap.SnapshotUpdate,
      o?: CallOptions,
    ): Promise<snap.Snapshot | undefined>;
    remove(ws: string, vm: string, name: string, o?: RemoveOptions): Promise<boolean>;
  };
  interfaces: {
    list(ws: string, router: string, o?: CallOptions): Promise<api.RouterInterface[] | undefined>;
    get(
      ws: string,
      router: string,
      network: string,
      o?: CallOptions,
    ): Promise<api.RouterInterface | undefined>;
    create(
      ws: string,
      router: string,
      body: api.InterfaceBody,
      o?: CallOptions,
    ): Promise<api.RouterInterface>;
    remove(ws: string, router: string, network: string, o?: CallOptions): Promise<boolean>;
  };
  templates: CatalogueObjects<api.Template>;
  areas: CatalogueObjects<api.Area>;
  hosts: CatalogueObjects<api.Host> & {
    /** Sets a host's maintenance flag (the rest of its record sent back as it is); undefined: no such host. */
    setMaintenance(name: string, on: boolean, o?: CallOptions): Promise<api.Host | undefined>;
  };
  pools: CatalogueObjects<api.Pool>;
  keys: {
    /** A user's SSH public keys (a service token reads anyone's). */
    ofUser(user: string, o?: CallOptions): Promise<api.SshKey[]>;
  };
  /** What users may do now (services that check requests read it: src/lib/authority.ts). */
  auth: {
    standing(uid: number, o?: CallOptions): Promise<api.Standing | undefined>;
    changes(after?: number, o?: CallOptions): Promise<api.AuthChanges>;
  };
  /**
   * The controller's accepts (src/lib/contracts/accepts.ts): one call checks and writes what a request needs,
   * tagged with its task, and answers what the task's message needs. Retried like any idempotent call (asking
   * again answers the same). Inventory's refusals (400, 404, 409, and a quota's 403) arrive as its own AppError.
   */
  accepts: {
    put: <O extends AcceptOp>(
      ws: string,
      task: string,
      op: O,
      body: AcceptBody<O>,
      o?: CallOptions,
    ) => Promise<AcceptAnswer<O>>;
    /** Undoes what the task's accept wrote (harmless when it wrote nothing); answers how many writes. */
    undo(ws: string, task: string, o?: CallOptions): Promise<number>;
  };
  addresses: {
    /** A free address of the area for a task; asking again for the same task answers the same one. */
    take(area: string, task: string, o?: CallOptions): Promise<string>;
    /** Gives back what a task took that no VM holds; answers how many. */
    releaseTask(area: string, task: string, o?: CallOptions): Promise<number>;
  };
}

export interface InventoryClientOptions {
  url: string;
  /** The caller's token (a service token, renewed as it expires). */
  token: () => Promise<string>;
  /** Seconds per attempt. */
  timeout?: number;
  /** Attempts after the first, for reads and idempotent writes. */
  retries?: number;
  /** Items per page of a list (inventory serves at most 1000). */
  pageSize?: number;
}

const seg = encodeURIComponent;
type Answer<T> = { status: 'ok'; body: T } | { status: 'missing' };

/** A 403 is the service token refused (a fault here), except a quota refusal: the caller's user sees that whole. */
function throwIfOverQuota(a: { status: number; body: unknown }): void {
  const b = (a.body ?? {}) as {
    error?: unknown;
    field?: unknown;
    quota?: unknown;
    limit?: unknown;
    used?: unknown;
  };
  if (
    a.status === 403 &&
    b.field === 'quota' &&
    typeof b.quota === 'string' &&
    typeof b.limit === 'number' &&
    typeof b.used === 'number'
  )
    throw overQuota(
      { quota: b.quota, limit: b.limit, used: b.used },
      typeof b.error === 'string' ? b.error : undefined,
    );
}

export function createInventoryClient(o: InventoryClientOptions): InventoryClient {
  const base = o.url.replace(/\/+$/, '');
  const pageSize = Math.min(Math.max(o.pageSize ?? 1000, 1), 1000);

  async function call<T>(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    answer: Checker<T>,
    c: CallOptions & { body?: unknown } = {},
  ): Promise<Answer<T>> {
    const a = await callJson(method, base + path, {
      token: await o.token(),
      requestId: c.requestId,
      body: c.body,
      timeout: o.timeout ?? 10,
      retries: method === 'POST' ? 0 : (o.retries ?? 3),
    });
    if (a.status === 404) return { status: 'missing' };
    throwIfOverQuota(a);
    const body = expectOk(a, `inventory ${method} ${path.split('?')[0]}`);
    const v = answer.check(body);
    if (!v.ok)
      throw unavailable(
        `inventory ${method} ${path.split('?')[0]} answered an unexpected shape: ${v.complaint.message}`,
      );
    return { status: 'ok', body: v.value };
  }
  const found = <T>(a: Answer<T>) => (a.status === 'ok' ? a.body : undefined);
  const get = async <T>(path: string, answer: Checker<T>, c?: CallOptions) =>
    found(await call('GET', path, answer, c));
  const put = async <T>(path: string, body: unknown, answer: Checker<T>, c?: CallOptions) =>
    found(await call('PUT', path, answer, { ...c, body }));
  const del = async <T>(path: string, answer: Checker<T>, c?: CallOptions) =>
    (await call('DELETE', path, answer, c)).status === 'ok';
  async function post<T>(path: string, body: unknown, answer: Checker<T>, c?: CallOptions): Promise<T> {
    const a = await call('POST', path, answer, { ...c, body });
    if (a.status === 'missing') throw unavailable(`inventory POST ${path}: no such route`);
    return a.body;
  }
  /** Every item of a list, one page (`?limit=&marker=<last name>`) after another. */
  async function all<K extends string, T extends { name: string }>(
    path: string,
    key: K,
    page: Checker<Record<K, T[]>>,
    c?: CallOptions,
  ): Promise<T[]> {
    const out: T[] = [];
    for (;;) {
      const marker = out.length ? `&marker=${seg(out[out.length - 1].name)}` : '';
      const items = (await get(`${path}?limit=${pageSize}${marker}`, page, c))?.[key] ?? [];
      out.push(...items);
      if (items.length < pageSize) return out;
    }
  }

  const deleted = checker(api.Deleted);
  function workspaceObjects<K extends string, T extends { name: string }, Create, Update>(
    plural: K,
    item: Checker<T>,
    page: Checker<Record<K, T[]>>,
  ): WorkspaceObjects<T, Create, Update> {
    const path = (ws: string, name?: string) =>
      `/${seg(ws)}/${plural}/${name === undefined ? '' : `${seg(name)}/`}`;
    return {
      get: (ws, name, c) => get(path(ws, name), item, c),
      list: (ws, c) => all(path(ws), plural, page, c),
      create: (ws, body, c) => post(path(ws), body, item, c),
      update: (ws, name, body, c) => put(path(ws, name), body, item, c),
      remove: (ws, name, c) => del(`${path(ws, name)}${c?.task ? `?task=${seg(c.task)}` : ''}`, deleted, c),
    };
  }

  function catalogueObjects<K extends string, T extends { name: string }>(
    plural: K,
    item: Checker<T>,
    page: Checker<Record<K, T[]>>,
  ): CatalogueObjects<T> {
    return {
      get: (name, c) => get(`/${plural}/${seg(name)}/`, item, c),
      list: (c) => all(`/${plural}/`, plural, page, c),
    };
  }

  const workspace = checker(api.WorkspaceDetail);
  const iface = checker(api.RouterInterface);
  const ifaceDeleted = checker(api.InterfaceDeleted);
  const ifaces = checker(api.RouterInterfaceList);
  const ip = checker(api.IpAnswer);
  const released = checker(api.ReleasedCount);
  const keyList = checker(api.SshKeyList);
  const standing = checker(api.Standing);
  const changes = checker(api.AuthChanges);
  const snapshot = checker(snap.Snapshot);
  const snapshots = checker(snap.SnapshotList);
  const snapPath = (ws: string, vm: string, name?: string) =>
    `/${seg(ws)}/vms/${seg(vm)}/snapshots/${name === undefined ? '' : `${seg(name)}/`}`;
  const acceptAnswers = new Map<string, Checker<unknown>>();
  const undone = checker(AcceptUndone);
  /** An accept call: 2xx checked against its schema; 4xx as inventory's own error (the caller's user sees it). */
  async function acceptCall<T>(
    method: 'PUT' | 'DELETE',
    path: string,
    answer: Checker<T>,
    c: CallOptions & { body?: unknown },
  ) {
    const a = await callJson(method, base + path, {
      token: await o.token(),
      requestId: c.requestId,
      body: c.body,
      timeout: o.timeout ?? 10,
      retries: o.retries ?? 3,
    });
    const what = `inventory ${method} ${path}`;
    throwIfOverQuota(a);
    const b = (a.body ?? {}) as { error?: unknown; field?: unknown };
    if (a.status >= 400 && a.status < 500 && a.status !== 401 && a.status !== 403) {
      throw new AppError(
        kindOfStatus(a.status) ?? 'unavailable',
        typeof b.error === 'string' ? b.error : `${what}: status ${a.status}`,
        typeof b.field === 'string' ? b.field : undefined,
      );
    }
    const v = answer.check(expectOk(a, what));
    if (!v.ok) throw unavailable(`${what} answered an unexpected shape: ${v.complaint.message}`);
    return v.value;
  }

  const ifacePath = (ws: string, router: string, network?: string) =>
    `/${seg(ws)}/routers/${seg(router)}/interfaces/${network === undefined ? '' : `${seg(network)}/`}`;

  return {
    workspaces: {
      get: (ws, c) => get(`/workspaces/${seg(ws)}/`, workspace, c),
      update: (ws, body, c) => put(`/workspaces/${seg(ws)}/`, body, workspace, c),
      remove: (ws, c) => del(`/workspaces/${seg(ws)}/`, deleted, c),
    },
    vms: workspaceObjects('vms', checker(api.Vm), checker(api.VmList)),
    networks: workspaceObjects('networks', checker(api.Network), checker(api.NetworkList)),
    routers: workspaceObjects('routers', checker(api.Router), checker(api.RouterList)),
    securityGroups: workspaceObjects(
      'security_groups',
      checker(sg.SecurityGroup),
      checker(sg.SecurityGroupList),
    ),
    snapshots: {
      list: async (ws, vm, c) => (await get(snapPath(ws, vm), snapshots, c))?.snapshots,
      get: (ws, vm, name, c) => get(snapPath(ws, vm, name), snapshot, c),
      create: (ws, vm, body, c) => post(snapPath(ws, vm), body, snapshot, c),
      update: (ws, vm, name, body, c) => put(snapPath(ws, vm, name), body, snapshot, c),
      remove: (ws, vm, name, c) =>
        del(`${snapPath(ws, vm, name)}${c?.task ? `?task=${seg(c.task)}` : ''}`, deleted, c),
    },
    interfaces: {
      list: async (ws, router, c) => (await get(ifacePath(ws, router), ifaces, c))?.interfaces,
      get: (ws, router, network, c) => get(ifacePath(ws, router, network), iface, c),
      create: (ws, router, body, c) => post(ifacePath(ws, router), body, iface, c),
      remove: (ws, router, network, c) => del(ifacePath(ws, router, network), ifaceDeleted, c),
    },
    templates: catalogueObjects('templates', checker(api.Template), checker(api.TemplateList)),
    areas: catalogueObjects('areas', checker(api.Area), checker(api.AreaList)),
    hosts: {
      ...catalogueObjects('hosts', checker(api.Host), checker(api.HostList)),
      async setMaintenance(name, on, c) {
        const h = await get(`/hosts/${seg(name)}/`, checker(api.Host), c);
        if (!h) return undefined;
        const body: api.HostBody = {
          name: h.name,
          address: h.address,
          libvirt_uri: h.libvirt_uri,
          area: h.area,
          cpus: h.cpus,
          memory: h.memory,
          domain_type: h.domain_type === 'kvm' ? 'kvm' : 'qemu',
          maintenance: on,
        };
        return put(`/hosts/${seg(name)}/`, body, checker(api.Host), c);
      },
    },
    pools: catalogueObjects('pools', checker(api.Pool), checker(api.PoolList)),
    keys: {
      async ofUser(user, c) {
        const a = await get(`/keys/?user=${seg(user)}`, keyList, c);
        if (!a) throw notFound('user', `no user ${user}`);
        return a.keys;
      },
    },
    auth: {
      standing: (uid, c) => get(`/auth/standing/${uid}/`, standing, c),
      async changes(after, c) {
        const a = await get(`/auth/changes/${after === undefined ? '' : `?after=${after}`}`, changes, c);
        if (!a) throw unavailable('inventory has no change feed');
        return a;
      },
    },
    accepts: {
      async put<O extends AcceptOp>(ws: string, task: string, op: O, body: AcceptBody<O>, c?: CallOptions) {
        let check = acceptAnswers.get(op);
        if (!check) acceptAnswers.set(op, (check = checker(ACCEPT_OPS[op].answer)));
        const answer = await acceptCall('PUT', `/${seg(ws)}/accepts/${op}/${seg(task)}/`, check, {
          ...c,
          body,
        });
        return answer as AcceptAnswer<O>;
      },
      undo: async (ws, task, c) =>
        (await acceptCall('DELETE', `/${seg(ws)}/accepts/${seg(task)}/`, undone, c ?? {})).undone,
    },
    addresses: {
      async take(area, task, c) {
        const a = await get(`/address/${seg(area)}/get_ip/?task=${seg(task)}`, ip, c);
        if (!a) throw notFound('area', `no area ${area}`);
        return a.ip;
      },
      async releaseTask(area, task, c) {
        const a = await call('DELETE', `/address/${seg(area)}/task/${seg(task)}/`, released, c);
        return a.status === 'ok' ? a.body.released : 0;
      },
    },
  };
}
