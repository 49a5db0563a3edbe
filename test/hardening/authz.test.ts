// Issue 9 item 3: the authorization matrix over every endpoint of the controller, the notification service
// and the monitoring stats API (inventory's own matrix is test/inventory/auth-matrix.test.ts), with forged
// tokens (expired, alg none, wrong key, tampered), a token of another workspace, members lacking exactly the
// permission or holding only it, services and admins; no answer ever carries an object of another workspace;
// and a workspace named like an Object.prototype member ("constructor", "__proto__") is no back door.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { ALL_PERMISSIONS, SERVICE_CLAIM, type Permission } from '../../src/lib/auth.ts';
import { createLogger } from '../../src/lib/log.ts';
import { createNotifier, roomPath, type Notifier } from '../../src/lib/notify.ts';
import { uniqueName } from '../support/env.ts';
import { startPlatform, until, type TestPlatform } from '../support/platform.ts';
import {
  algNoneToken,
  claimsOf,
  expiredToken,
  inventoryKey,
  otherKeyToken,
  signRaw,
  tamperedToken,
} from '../support/tokens.ts';
import { seedDataset, startStats, type Dataset, type Stats } from './fixture.ts';

type Kind = 'invalid' | 'outsider' | 'lacking' | 'holding' | 'service' | 'admin';
interface Caller {
  name: string;
  kind: Kind;
  headers: Record<string, string>;
}
interface Answer {
  status: number;
  text: string;
  body?: Record<string, unknown>;
}

/** The controller's promise (DESIGN "Tokens and permissions", issue 9): writes need the permission in the
 * owner workspace (services hold every one; an admin is no member); task reads need membership (or admin/service). */
function controllerExpects(kind: Kind, write: boolean): number {
  if (kind === 'invalid') return 401;
  if (write) return kind === 'holding' || kind === 'service' ? 202 : 403;
  return kind === 'outsider' ? 403 : 200;
}

void describe('authorization matrix: controller, notification, stats', () => {
  let p: TestPlatform;
  let d: Dataset;
  let stats: Stats;
  let notifier: Notifier;
  let forged: Caller[];
  /** Per controller permission: a member of A holding only it, and one holding every other one. */
  const only = new Map<Permission, string>();
  const allBut = new Map<Permission, string>();
  const log = createLogger('test', 'silent');

  const send = async (
    base: string,
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: unknown,
  ): Promise<Answer> => {
    const h = { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) };
    const res = await fetch(base + path, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: Record<string, unknown> | undefined;
    try {
      parsed = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: res.status, text, body: parsed };
  };
  const svc = async (method: string, path: string, body?: unknown) => {
    const r = await p.inv.call(method, path, d.tokens.service, body);
    assert.ok(r.status < 300, `fixture ${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  };
  /** No answer may carry another workspace's names; errors are {error, field?}. */
  const checkAnswer = (who: string, r: Answer, mine: string[] = []) => {
    for (const name of [...d.foreign, ...d.tasksB])
      assert.ok(!r.text.includes(name), `${who}: answer leaks ${name} of workspace B: ${r.text}`);
    for (const name of mine)
      assert.ok(!r.text.includes(name), `${who}: answer shows ${name} to a non-member: ${r.text}`);
    if (r.status >= 400) {
      assert.equal(typeof r.body?.error, 'string', `${who}: error body ${r.text}`);
      assert.ok(
        Object.keys(r.body!).every((k) => k === 'error' || k === 'field'),
        `${who}: only error and field in ${r.text}`,
      );
    }
  };

  before(async () => {
    p = await startPlatform('pglite', 'memory');
    d = await seedDataset(p);
    stats = await startStats(p, d);
    notifier = createNotifier({ url: p.notificationUrl, token: () => p.inv.serviceToken('compute'), log });
    const perms: Permission[] = [
      'vm_can_add',
      'vm_can_edit',
      'vm_can_delete',
      'network_can_add',
      'network_can_edit',
      'network_can_delete',
      'router_can_add',
      'router_can_edit',
      'router_can_delete',
    ];
    for (const perm of perms) {
      for (const [into, grant] of [
        [only, (x: Permission) => x === perm],
        [allBut, (x: Permission) => x !== perm],
      ] as const) {
        const name = uniqueName(into === only ? 'only' : 'allbut');
        await p.inv.user(name);
        const flags = Object.fromEntries(
          Object.keys(ALL_PERMISSIONS).map((x) => [x, grant(x as Permission)]),
        );
        await p.inv.addMember(d.A, d.tokens.owner, name, flags);
        into.set(perm, await p.inv.login(name));
      }
    }
    const t = d.tokens;
    const cfg = p.inv.config;
    forged = [
      { name: 'no token', kind: 'invalid', headers: {} },
      { name: 'garbage token', kind: 'invalid', headers: { token: 'not.a.token' } },
      { name: 'expired (owner)', kind: 'invalid', headers: { token: await expiredToken(cfg, t.owner) } },
      {
        name: 'expired (service)',
        kind: 'invalid',
        headers: { authorization: `Bearer ${await expiredToken(cfg, t.service)}` },
      },
      {
        name: 'alg none (owner claims)',
        kind: 'invalid',
        headers: { token: algNoneToken(claimsOf(t.owner)) },
      },
      {
        name: 'alg none (service claims)',
        kind: 'invalid',
        headers: { token: algNoneToken(claimsOf(t.service)) },
      },
      {
        name: 'wrong key (owner claims)',
        kind: 'invalid',
        headers: { token: await otherKeyToken(cfg, t.owner) },
      },
      {
        name: 'wrong key (service claims)',
        kind: 'invalid',
        headers: { token: await otherKeyToken(cfg, t.service) },
      },
      {
        name: 'tampered (member given every permission)',
        kind: 'invalid',
        headers: { token: tamperedToken(t.weak, { [d.A]: ALL_PERMISSIONS }) },
      },
      {
        name: 'tampered (outsider made service)',
        kind: 'invalid',
        headers: { token: tamperedToken(t.outsider, { [SERVICE_CLAIM]: true }) },
      },
      {
        name: 'tampered (outsider made member of A)',
        kind: 'invalid',
        headers: { token: tamperedToken(t.outsider, { [d.A]: ALL_PERMISSIONS }) },
      },
    ];
  });

  after(async () => {
    await notifier?.close();
    await stats?.close();
    await p?.close();
  });

  // ---------------------------------------------------------------------------------------------------------
  // Controller

  interface Endpoint {
    method: 'POST' | 'PUT' | 'DELETE' | 'GET';
    label: string;
    path: string | (() => string);
    perm?: Permission;
    /** Makes what one cell acts on and answers the request body (n: a name fresh to the cell). */
    body?: (n: string) => unknown;
  }
  const A = () => d.A;
  const vm = async (n: string) =>
    svc('POST', `/${A()}/vms/`, { name: n, area: d.area, template: d.template, state: 'U' });
  const net = async (n: string) => svc('POST', `/${A()}/networks/`, { name: n, state: 'U' });
  const router = async (n: string) => svc('POST', `/${A()}/routers/`, { name: n, state: 'U' });
  const controllerEndpoints: Endpoint[] = [
    {
      method: 'POST',
      label: '/vms/',
      path: '/vms/',
      perm: 'vm_can_add',
      body: (n) => ({ owner: A(), name: n, area: d.area, template: d.template, password: 'guest-root-pw' }),
    },
    {
      method: 'PUT',
      label: '/vms/',
      path: '/vms/',
      perm: 'vm_can_edit',
      body: async (n) => (await vm(n), { owner: A(), name: n, update_dict: { description: 'edited' } }),
    },
    {
      method: 'DELETE',
      label: '/vms/',
      path: '/vms/',
      perm: 'vm_can_delete',
      body: async (n) => (await vm(n), { owner: A(), name: n }),
    },
    {
      method: 'POST',
      label: '/networks/',
      path: '/networks/',
      perm: 'network_can_add',
      body: (n) => ({ owner: A(), name: n }),
    },
    {
      method: 'PUT',
      label: '/networks/',
      path: '/networks/',
      perm: 'network_can_edit',
      body: async (n) => (await net(n), { owner: A(), name: n, update_dict: { description: 'edited' } }),
    },
    {
      method: 'DELETE',
      label: '/networks/',
      path: '/networks/',
      perm: 'network_can_delete',
      body: async (n) => (await net(n), { owner: A(), name: n }),
    },
    {
      method: 'POST',
      label: '/routers/',
      path: '/routers/',
      perm: 'router_can_add',
      body: (n) => ({ owner: A(), name: n }),
    },
    {
      method: 'DELETE',
      label: '/routers/',
      path: '/routers/',
      perm: 'router_can_delete',
      body: async (n) => (await router(n), { owner: A(), name: n }),
    },
    {
      method: 'POST',
      label: '/interfaces/',
      path: '/interfaces/',
      perm: 'router_can_edit',
      body: async (n) => {
        await router(`${n}-r`);
        await net(`${n}-n`);
        return { owner: A(), router: `${n}-r`, network: `${n}-n`, ip: '10.9.9.1' };
      },
    },
    {
      method: 'DELETE',
      label: '/interfaces/',
      path: '/interfaces/',
      perm: 'router_can_edit',
      body: async (n) => {
        await router(`${n}-r`);
        await net(`${n}-n`);
        await svc('POST', `/${A()}/routers/${n}-r/interfaces/`, { network: `${n}-n`, ip: '10.9.9.1' });
        return { owner: A(), router: `${n}-r`, network: `${n}-n` };
      },
    },
    { method: 'GET', label: '/tasks/<ws>/', path: () => `/tasks/${d.A}/` },
    { method: 'GET', label: '/running_tasks/<ws>/', path: () => `/running_tasks/${d.A}/` },
    { method: 'GET', label: '/finished_tasks/<ws>/', path: () => `/finished_tasks/${d.A}/` },
    { method: 'GET', label: '/task/<id>/', path: () => `/task/${d.tasksA[0]}/` },
  ];

  const callersFor = (perm?: Permission): Caller[] => [
    ...forged,
    { name: 'other workspace', kind: 'outsider', headers: { token: d.tokens.outsider } },
    {
      name: 'member without permissions',
      kind: perm ? 'lacking' : 'holding',
      headers: { token: d.tokens.weak },
    },
    ...(perm
      ? ([
          { name: `member holding all but ${perm}`, kind: 'lacking', headers: { token: allBut.get(perm)! } },
          { name: `member holding only ${perm}`, kind: 'holding', headers: { token: only.get(perm)! } },
        ] as Caller[])
      : []),
    {
      name: 'member with every permission',
      kind: 'holding',
      headers: { authorization: `Bearer ${d.tokens.owner}` },
    },
    { name: 'service', kind: 'service', headers: { token: d.tokens.service } },
    { name: 'admin', kind: 'admin', headers: { token: d.tokens.admin } },
  ];

  // An admin is an operator, not a member: reading A's tasks is allowed, changing A's objects is not.
  for (const e of controllerEndpoints) {
    const path = () => (typeof e.path === 'string' ? e.path : e.path());
    void test(`controller ${e.method} ${e.label} answers each caller as promised`, async () => {
      const want: Record<string, number> = {};
      const got: Record<string, number> = {};
      for (const c of callersFor(e.perm)) {
        const n = uniqueName('c');
        const body = await e.body?.(n);
        const r = await send(p.controllerUrl, e.method, path(), c.headers, body);
        let expected = controllerExpects(c.kind, e.method !== 'GET');
        // A task of another workspace answers exactly as an unknown task: its id tells nothing.
        if (e.method === 'GET' && path().startsWith('/task/') && c.kind === 'outsider') expected = 404;
        want[c.name] = expected;
        got[c.name] = r.status;
        // A non-member sees nothing of A beyond the name it sent itself (and not even that for a task id).
        const hidden = [
          d.v1,
          d.n1,
          d.r1,
          ...d.tasksA.filter((id) => !path().includes(id)),
          ...(path().startsWith('/task/') ? [d.A] : []),
        ];
        checkAnswer(c.name, r, c.kind === 'outsider' || c.kind === 'invalid' ? hidden : []);
        if (r.status === 202) {
          assert.match(String(r.body?.task_id), /^[0-9a-f-]{36}$/);
          assert.ok(!r.text.includes('guest-root-pw'), 'the password never shows');
        }
        if (r.status === 200 && 'tasks' in (r.body ?? {})) {
          const tasks = r.body!.tasks as { workspace: string }[];
          assert.ok(
            tasks.every((t) => t.workspace === d.A),
            `${c.name}: tasks of another workspace in ${r.text.slice(0, 300)}`,
          );
          assert.ok(!r.text.includes('guest-root-pw'), 'the password never shows');
        }
      }
      assert.deepEqual(got, want);
    });
  }

  void test("controller: a member of A cannot reach or reference workspace B's objects, nor act in B by naming it", async () => {
    const owner = { token: d.tokens.owner };
    const cases: [string, string, unknown][] = [
      [
        'POST',
        '/vms/',
        { owner: d.B, name: uniqueName('x'), area: d.area, template: d.template, password: 'pw-pw-pw' },
      ],
      ['DELETE', '/vms/', { owner: d.B, name: d.vB }],
      ['DELETE', '/networks/', { owner: d.B, name: d.nB }],
      ['DELETE', '/routers/', { owner: d.B, name: d.rB }],
      ['POST', '/interfaces/', { owner: d.B, router: d.rB, network: d.nB, ip: '10.1.1.1' }],
    ];
    for (const [method, path, body] of cases) {
      const r = await send(p.controllerUrl, method, path, owner, body);
      assert.equal(r.status, 403, `${method} ${path} in B: ${r.text}`);
    }
    // Naming B's objects inside A finds nothing (never B's object).
    const inA: [string, string, unknown][] = [
      [
        'POST',
        '/vms/',
        {
          owner: d.A,
          name: uniqueName('x'),
          area: d.area,
          template: d.template,
          password: 'pw-pw-pw',
          networks: [d.nB],
        },
      ],
      ['PUT', '/vms/', { owner: d.A, name: d.vB, update_dict: { description: 'x' } }],
      ['DELETE', '/networks/', { owner: d.A, name: d.nB }],
      ['POST', '/interfaces/', { owner: d.A, router: d.rB, network: d.n2, ip: '10.1.1.1' }],
      ['POST', '/interfaces/', { owner: d.A, router: d.r1, network: d.nB, ip: '10.1.1.1' }],
    ];
    for (const [method, path, body] of inA) {
      const r = await send(p.controllerUrl, method, path, owner, body);
      assert.ok(
        r.status === 400 || r.status === 404,
        `${method} ${path} naming B's object: ${r.status} ${r.text}`,
      );
    }
    for (const id of d.tasksB) {
      const r = await send(p.controllerUrl, 'GET', `/task/${id}/`, owner);
      assert.equal(r.status, 404, r.text);
      assert.ok(!r.text.includes(d.B), r.text);
    }
    const mine = await send(p.controllerUrl, 'GET', `/tasks/${d.A}/?limit=1000`, owner);
    for (const name of [...d.foreign, ...d.tasksB])
      assert.ok(!mine.text.includes(name), `A's tasks show ${name}`);
    const names = (
      (await p.inv.call('GET', `/${d.B}/vms/`, d.tokens.service)).body.vms as { name: string }[]
    ).map((v) => v.name);
    assert.deepEqual(names, [d.vB], 'nothing was created in B');
  });

  // ---------------------------------------------------------------------------------------------------------
  // Notification

  interface Conn {
    socket: WebSocket;
    messages: Record<string, unknown>[];
    opened: Promise<void>;
    closed: Promise<{ code: number; reason: string }>;
  }
  const sockets: WebSocket[] = [];
  const connect = (path: string): Conn => {
    const socket = new WebSocket(p.notificationUrl + path);
    sockets.push(socket);
    const messages: Record<string, unknown>[] = [];
    socket.on('message', (m) => {
      try {
        messages.push(JSON.parse(String(m)) as Record<string, unknown>);
      } catch {
        messages.push({ raw: String(m) });
      }
    });
    socket.on('error', () => undefined);
    const opened = new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('unexpected-response', (_q, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    opened.catch(() => undefined);
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      socket.on('close', (code, reason) => resolve({ code, reason: String(reason) })),
    );
    return { socket, messages, opened, closed };
  };
  /** Proves membership: a message a service sends to the room arrives (or the connection closes: fails). */
  const hears = async (c: Conn, ws: string) => {
    const probe = uniqueName('probe');
    await notifier.send(ws, { probe });
    await Promise.race([
      until(`probe ${probe}`, () => (c.messages.some((m) => m.probe === probe) ? true : undefined)),
      c.closed.then(({ code, reason }) =>
        Promise.reject(new Error(`closed ${code} ${reason} instead of hearing the room`)),
      ),
    ]);
  };

  void test('notification: every caller joins room A, or is closed with the promised code', async () => {
    const t = d.tokens;
    const cases: [string, string, number | 'member'][] = [
      ...forged
        .filter((c) => c.name !== 'no token')
        .map((c): [string, string, number] => [
          c.name,
          roomPath(d.A, (c.headers.token ?? c.headers.authorization ?? '').replace(/^Bearer /, '')),
          4401,
        ]),
      ['no token (path without one)', `/${d.A}/`, 4404],
      ['other workspace', roomPath(d.A, t.outsider), 4403],
      ['admin (an operator, not a member)', roomPath(d.A, t.admin), 4403],
      ['member without permissions', roomPath(d.A, t.weak), 'member'],
      ['member with every permission', roomPath(d.A, t.owner), 'member'],
      ['service', roomPath(d.A, t.service), 'member'],
      ['member asking to send', roomPath(d.A, t.owner, true), 4403],
      ['outsider asking to send', roomPath(d.A, t.outsider, true), 4403],
      ['member of A in room B', roomPath(d.B, t.owner), 4403],
    ];
    const got: Record<string, number | 'member'> = {};
    const want: Record<string, number | 'member'> = {};
    for (const [name, path, expected] of cases) {
      const c = connect(path);
      want[name] = expected;
      if (expected === 'member') {
        await c.opened;
        await hears(c, d.A);
        got[name] = 'member';
        c.socket.close();
      } else {
        const { code, reason } = await c.closed;
        got[name] = code;
        for (const n of [d.A, ...d.foreign])
          if (expected !== 4403) assert.ok(!reason.includes(n), `${name}: close reason ${reason}`);
      }
    }
    assert.deepEqual(got, want);
  });

  void test('notification: a user who sends is closed with 4403 and nobody hears it; a service message reaches A only', async () => {
    const listener = connect(roomPath(d.A, d.tokens.weak));
    const outsider = connect(roomPath(d.B, d.tokens.outsider));
    await listener.opened;
    await outsider.opened;
    await hears(listener, d.A);
    await hears(outsider, d.B);
    const sender = connect(roomPath(d.A, d.tokens.owner));
    await sender.opened;
    await hears(sender, d.A);
    sender.socket.send(JSON.stringify({ forged: 'from-a-user', kind: 'task', status: 'successful' }));
    assert.equal((await sender.closed).code, 4403);
    // Rooms deliver in order: once a later service message arrived, the user's message never will.
    const secret = uniqueName('for-a-only');
    await notifier.send(d.A, { secret });
    await until('A hears the service message', () =>
      listener.messages.some((m) => m.secret === secret) ? true : undefined,
    );
    await hears(outsider, d.B);
    assert.ok(!listener.messages.some((m) => m.forged), 'a user message reached the room');
    assert.ok(!outsider.messages.some((m) => m.secret === secret || m.forged), 'room B heard room A');
    // The controller's own task notifications go to the task's workspace only.
    const r = await send(
      p.controllerUrl,
      'POST',
      '/networks/',
      { token: d.tokens.owner },
      { owner: d.A, name: uniqueName('n') },
    );
    assert.equal(r.status, 202);
    await until('A hears its task', () =>
      listener.messages.some((m) => m.task_id === r.body?.task_id) ? true : undefined,
    );
    await hears(outsider, d.B);
    assert.ok(!outsider.messages.some((m) => m.task_id === r.body?.task_id), "room B heard A's task");
    listener.socket.close();
    outsider.socket.close();
  });

  void test('notification: a member is closed with 4401 when the token that opened the room expires', async () => {
    const now = Math.floor(Date.now() / 1000);
    const shortLived = await signRaw(inventoryKey(p.inv.config), claimsOf(d.tokens.weak), { exp: now + 4 });
    const c = connect(roomPath(d.A, shortLived));
    await c.opened;
    assert.equal((await c.closed).code, 4401);
  });

  // ---------------------------------------------------------------------------------------------------------
  // Stats

  const statsEndpoints: {
    label: string;
    path: () => string;
    rule: 'operator' | 'member';
    mine: () => string[];
  }[] = [
    { label: '/stats/hosts/', path: () => '/stats/hosts/', rule: 'operator', mine: () => [] },
    {
      label: '/stats/hosts/<host>/',
      path: () => `/stats/hosts/${d.host}/`,
      rule: 'operator',
      mine: () => [],
    },
    { label: '/stats/pools/', path: () => '/stats/pools/', rule: 'operator', mine: () => [] },
    {
      label: '/stats/pools/<pool>/',
      path: () => `/stats/pools/${d.pool}/`,
      rule: 'operator',
      mine: () => [],
    },
    { label: '/stats/vms/<ws>/', path: () => `/stats/vms/${d.A}/`, rule: 'member', mine: () => [d.v1, d.v2] },
    {
      label: '/stats/vms/<ws>/<vm>/',
      path: () => `/stats/vms/${d.A}/${d.v1}/`,
      rule: 'member',
      mine: () => [d.v1],
    },
  ];
  for (const e of statsEndpoints) {
    void test(`stats GET ${e.label} answers each caller as promised`, async () => {
      const want: Record<string, number> = {};
      const got: Record<string, number> = {};
      for (const c of callersFor()) {
        const r = await send(stats.url, 'GET', e.path(), c.headers);
        want[c.name] =
          c.kind === 'invalid'
            ? 401
            : e.rule === 'operator'
              ? c.kind === 'admin' || c.kind === 'service'
                ? 200
                : 403
              : c.kind === 'outsider'
                ? 403
                : 200;
        got[c.name] = r.status;
        checkAnswer(c.name, r, c.kind === 'outsider' || c.kind === 'invalid' ? [d.v1, d.v2] : []);
        if (r.status === 200)
          for (const n of e.mine())
            assert.ok(r.text.includes(n), `${c.name}: ${n} missing from ${r.text.slice(0, 200)}`);
      }
      assert.deepEqual(got, want);
    });
  }

  // ---------------------------------------------------------------------------------------------------------
  // Workspace names that are also names of Object.prototype members

  const PROTO_NAMES = ['constructor', '__proto__', 'toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf'];

  void test('inventory refuses workspace names that are Object.prototype members (they become token claim keys)', async () => {
    const owner = await p.inv.user(uniqueName('proto'));
    for (const name of PROTO_NAMES) {
      const r = await p.inv.call('POST', '/workspaces/', owner, { name });
      assert.deepEqual(
        [r.status, r.body?.field],
        [400, 'name'],
        `workspace ${name}: ${JSON.stringify(r.body)}`,
      );
    }
  });

  void test('a workspace named "constructor", "__proto__", "toString"... (made before that rule) gives non-members nothing', async () => {
    const victim = uniqueName('victim');
    await p.inv.user(victim);
    const stranger = await p.inv.user(uniqueName('stranger'));
    const db = p.inv.inventory.database.db;
    const victimId = (
      await db.selectFrom('users').select('id').where('username', '=', victim).executeTakeFirstOrThrow()
    ).id;
    for (const ws of PROTO_NAMES) {
      // As if created before names were checked: the row and its member, and the member's real token.
      const { id } = await db
        .insertInto('workspaces')
        .values({ name: ws, owner_id: victimId })
        .returning('id')
        .executeTakeFirstOrThrow();
      await db
        .insertInto('members')
        .values({ workspace_id: id, user_id: victimId, ...ALL_PERMISSIONS })
        .execute();
      await db.insertInto('auth_changes').values({ kind: 'user', user_id: victimId, detail: null }).execute();
      await until('the change is read', async () => {
        const t = await p.inv.login(victim);
        const r = await send(p.controllerUrl, 'GET', `/tasks/${ws}/`, { token: t });
        return r.status === 200 || undefined;
      });
      const member = await p.inv.login(victim);
      const task = await send(
        p.controllerUrl,
        'POST',
        '/networks/',
        { token: member },
        { owner: ws, name: uniqueName('n') },
      );
      assert.equal(task.status, 202, `the member works in ${ws}: ${task.text}`);
      for (const [who, token] of [
        ['stranger', stranger],
        ['outsider', d.tokens.outsider],
      ] as const) {
        const label = `${who} in workspace ${ws}`;
        assert.equal(
          (await send(p.controllerUrl, 'GET', `/tasks/${ws}/`, { token })).status,
          403,
          `${label}: task list`,
        );
        assert.equal(
          (await send(p.controllerUrl, 'GET', `/task/${String(task.body?.task_id)}/`, { token })).status,
          404,
          `${label}: task`,
        );
        assert.equal(
          (await send(p.controllerUrl, 'POST', '/routers/', { token }, { owner: ws, name: uniqueName('r') }))
            .status,
          403,
          `${label}: router create`,
        );
        assert.equal(
          (await send(stats.url, 'GET', `/stats/vms/${ws}/`, { token })).status,
          403,
          `${label}: stats`,
        );
        const c = connect(roomPath(ws, token));
        assert.equal((await c.closed).code, 4403, `${label}: room`);
      }
    }
  });

  after(() => {
    for (const s of sockets) s.terminate();
  });
});
