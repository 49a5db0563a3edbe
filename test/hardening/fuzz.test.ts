// Issue 9 item 2: every HTTP endpoint of inventory, controller and the monitoring stats API, driven from its
// own /openapi.json with fast-check-generated bad and edge-case input, under every kind of caller.
//   1. Certainly invalid requests (one path/query parameter or the body breaks the schema; bodies that are
//      not JSON or not announced as JSON), against the fixed seeded dataset: each gets a 4xx whose body is
//      {error, field?} (naming the field for a bad body), never a 5xx; and afterwards every list
//      (workspaces, users, VMs, networks, routers, interfaces, templates, areas, hosts, pools, tasks) and
//      every stored row is exactly as before.
//   2. Requests valid in shape but with wrong, foreign or odd values (names of other kinds or of another
//      workspace, names like "...", "constructor", "-rf", unknown ids, edge numbers) and forged tokens:
//      never a 5xx, the error contract holds, and each refused request leaves every stored row unchanged.
//   3. Malformed HTTP: unknown methods, oversized bodies and URLs, odd auth headers.
// The services answer /healthz after each part. KLOUDAK_FUZZ_SEED replays a run; KLOUDAK_FUZZ_RUNS scales it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Kysely } from 'kysely';
import {
  build,
  closeAgent,
  describe as describeRequest,
  errorContractBreach,
  invalidDraftsOf,
  operationsOf,
  send,
  shapedDraftsOf,
  type Answer,
  type Built,
  type Hints,
  type Operation,
} from '../support/openapi-fuzz.ts';
import { startPlatform, type TestPlatform } from '../support/platform.ts';
import { algNoneToken, claimsOf, expiredToken, otherKeyToken } from '../support/tokens.ts';
import { digest, outboxDrained, seedDataset, startStats, type Dataset, type Stats } from './fixture.ts';

const SEED = Number(process.env.KLOUDAK_FUZZ_SEED ?? Date.now() % 2 ** 31);
const SCALE = Number(process.env.KLOUDAK_FUZZ_RUNS ?? 1);
/** Certainly-invalid requests per operation, and valid-shaped ones (each of those costs a fingerprint of every table). */
const RUNS_INVALID = Math.round(60 * SCALE);
const RUNS_SHAPED = Math.round(20 * SCALE);

interface Service {
  name: string;
  url: string;
  ops: Operation[];
}

void describe('fuzzing every HTTP endpoint from its OpenAPI document', () => {
  let p: TestPlatform;
  let d: Dataset;
  let stats: Stats;
  let services: Service[];
  let principals: [string, Record<string, string>][];
  const counts: Record<string, number> = {};
  const statuses: Record<string, Record<number, number>> = {};

  const count = (phase: string, a: Answer) => {
    counts[phase] = (counts[phase] ?? 0) + 1;
    const h = (statuses[phase] ??= {});
    h[a.status] = (h[a.status] ?? 0) + 1;
  };

  before(async () => {
    p = await startPlatform('pglite', 'memory');
    d = await seedDataset(p);
    stats = await startStats(p, d);
    const t = d.tokens;
    principals = [
      ['no token', {}],
      ['admin', { token: t.admin }],
      ['service', { authorization: `Bearer ${t.service}` }],
      ['owner of A', { token: t.owner }],
      ['member of A without permissions', { token: t.weak }],
      ['owner of B', { authorization: `Bearer ${t.outsider}` }],
      ['expired admin', { token: await expiredToken(p.inv.config, t.admin) }],
      ['alg none service', { token: algNoneToken(claimsOf(t.service)) }],
      ['other key owner', { token: await otherKeyToken(p.inv.config, t.owner) }],
    ];
    const doc = async (url: string) => (await fetch(`${url}/openapi.json`)).json();
    services = [
      { name: 'inventory', url: p.inv.url, ops: operationsOf(await doc(p.inv.url)) },
      { name: 'controller', url: p.controllerUrl, ops: operationsOf(await doc(p.controllerUrl)) },
      { name: 'stats', url: stats.url, ops: operationsOf(await doc(stats.url)) },
    ];
  });

  after(async () => {
    console.log(
      `fuzz seed ${SEED}; requests by part: ${JSON.stringify(counts)}; statuses: ${JSON.stringify(statuses)}`,
    );
    closeAgent();
    await stats?.close();
    await p?.close();
  });

  const dbs = (): [string, Kysely<any>][] => [
    ['inventory', p.inv.inventory.database.db],
    ['controller', p.controller.database.db],
    ['monitoring', stats.db],
  ];
  const fingerprint = async () => {
    const out: Record<string, string> = {};
    for (const [name, db] of dbs())
      for (const [table, h] of Object.entries(await digest(db))) out[`${name}.${table}`] = h;
    return out;
  };
  const changed = (a: Record<string, string>, b: Record<string, string>) =>
    Object.keys({ ...a, ...b }).filter((k) => a[k] !== b[k]);

  /** Every list an operator or member could read, through the APIs (names and full objects). */
  async function snapshot() {
    const { admin } = d.tokens;
    const get = async (url: string, path: string) => {
      const r = await send(url, { method: 'GET', path, headers: { token: admin } });
      assert.equal(r.status, 200, `snapshot ${path}: ${r.text}`);
      return r.json as Record<string, { name: string }[]>;
    };
    const out: Record<string, unknown> = {};
    for (const kind of ['workspaces', 'templates', 'areas', 'hosts', 'pools'])
      out[kind] = await get(p.inv.url, `/${kind}/?limit=1000`);
    for (const { name: ws } of (out.workspaces as { workspaces: { name: string }[] }).workspaces) {
      for (const kind of ['users', 'vms', 'networks', 'routers'])
        out[`${ws}/${kind}`] = await get(p.inv.url, `/${ws}/${kind}/?limit=1000`);
      for (const { name: r } of (out[`${ws}/routers`] as { routers: { name: string }[] }).routers)
        out[`${ws}/${r}/interfaces`] = await get(p.inv.url, `/${ws}/routers/${r}/interfaces/`);
      out[`${ws}/tasks`] = await get(p.controllerUrl, `/tasks/${ws}/?limit=1000`);
    }
    for (const kind of ['hosts', 'pools']) out[`stats/${kind}`] = await get(stats.url, `/stats/${kind}/`);
    for (const ws of [d.A, d.B]) out[`stats/${ws}`] = await get(stats.url, `/stats/vms/${ws}/`);
    return out;
  }

  async function healthy() {
    const notifHttp = p.notificationUrl.replace(/^ws/, 'http');
    for (const url of [p.inv.url, p.controllerUrl, notifHttp, stats.url]) {
      const r = await send(url, { method: 'GET', path: '/healthz', headers: {} });
      assert.equal(r.status, 200, `${url}/healthz: ${r.text}`);
    }
  }

  /** This deployment runs no compute: the console routes, reaching an allowed VM, promise 503 (unavailable). */
  const withoutCompute = (req: Built) => req.path.startsWith('/console/');

  /** The problems of one answer: a 5xx, a broken error body, an accepted "certainly invalid" request. */
  function judge(a: Answer, req: Built, who: string, mustRefuse: boolean, why: string): string[] {
    const at = `${who}: ${describeRequest(req)} -> ${a.status} ${a.text.slice(0, 200)}`;
    const out: string[] = [];
    if (a.status >= 500 && !(a.status === 503 && withoutCompute(req))) out.push(`5xx ${at}`);
    if (mustRefuse && a.status < 400) out.push(`invalid request accepted ${at}`);
    const breach = errorContractBreach(a);
    if (breach) out.push(`error contract (${breach}) ${at}`);
    if (
      mustRefuse &&
      a.status === 400 &&
      why.includes('body') &&
      typeof (a.json as { field?: unknown })?.field !== 'string'
    )
      out.push(`400 without field ${at}`);
    if (!a.headers['x-request-id']) out.push(`no X-Request-Id ${at}`);
    return out;
  }

  void test(`certainly invalid requests (${RUNS_INVALID} per operation): a 4xx {error, field?}, never a 5xx, and no stored change`, async (t) => {
    const before = await snapshot();
    const rows = await fingerprint();
    const problems: string[] = [];
    let n = 0;
    for (const [si, s] of services.entries()) {
      let covered = 0;
      for (const [oi, op] of s.ops.entries()) {
        const drafts = invalidDraftsOf(op);
        if (!drafts) continue;
        covered++;
        const cases = fc.sample(fc.tuple(drafts, fc.constantFrom(...principals)), {
          numRuns: RUNS_INVALID,
          seed: SEED + si * 1000 + oi,
        });
        for (const [draft, [who, auth]] of cases) {
          const req = build(op, draft, auth);
          const a = await send(s.url, req);
          count('invalid', a);
          count(`invalid ${s.name}`, a);
          n++;
          problems.push(...judge(a, req, who, true, draft.why));
        }
      }
      t.diagnostic(`${s.name}: ${covered} of ${s.ops.length} operations take input that can be invalid`);
    }
    t.diagnostic(`${n} certainly invalid requests sent`);
    assert.ok(n >= 1500, `only ${n} cases`);
    await healthy();
    assert.deepEqual(problems.slice(0, 30), [], `${problems.length} problems`);
    assert.deepEqual(changed(rows, await fingerprint()), [], 'stored rows changed');
    assert.deepEqual(await snapshot(), before, 'lists changed');
  });

  void test('malformed HTTP: unknown methods, oversized bodies and URLs, odd auth headers', async () => {
    const rows = await fingerprint();
    const problems: string[] = [];
    const cases: [Service, Built][] = [];
    for (const s of services) {
      const paths = [...new Set(s.ops.map((o) => o.path))];
      for (const path of paths) {
        const concrete = path.replace(/\{[^}]+\}/g, 'x');
        cases.push([
          s,
          {
            method: 'PATCH',
            path: concrete,
            headers: { token: d.tokens.admin, 'content-type': 'application/json' },
            body: '{}',
          },
        ]);
      }
      const post = s.ops.find((o) => o.method === 'POST');
      const anyGet = s.ops.find((o) => o.method === 'GET')!;
      const getPath = anyGet.path.replace(/\{[^}]+\}/g, 'x');
      if (post) {
        const path = post.path.replace(/\{[^}]+\}/g, d.A);
        cases.push([
          s,
          {
            method: 'POST',
            path,
            headers: { token: d.tokens.service, 'content-type': 'application/json' },
            body: JSON.stringify({ name: 'x', pad: 'p'.repeat(2 << 20) }),
          },
        ]);
        cases.push([
          s,
          {
            method: 'POST',
            path,
            headers: { token: d.tokens.service, 'content-type': 'application/json' },
            body: `${'['.repeat(5000)}${']'.repeat(5000)}`,
          },
        ]);
        cases.push([
          s,
          {
            method: 'POST',
            path,
            headers: { token: d.tokens.service, 'content-type': 'application/json' },
            body: JSON.stringify({ name: 'x', a: Array.from({ length: 20000 }, (_, i) => i) }),
          },
        ]);
      }
      cases.push([s, { method: 'GET', path: `/${'a'.repeat(3000)}/`, headers: { token: d.tokens.admin } }]);
      cases.push([
        s,
        { method: 'GET', path: `${getPath}?${'q=1&'.repeat(3000)}`, headers: { token: d.tokens.admin } },
      ]);
      const odd: Record<string, string>[] = [
        { token: 'x'.repeat(8000) },
        { token: 'x'.repeat(20000) },
        { authorization: 'Bearer' },
        { authorization: 'Bearer ' },
        { authorization: 'Basic YWRtaW46YWRtaW4=' },
        { authorization: `Bearer ${d.tokens.admin}.${d.tokens.admin}` },
        { token: `${d.tokens.admin} ` },
        { token: d.tokens.admin.split('.').slice(0, 2).join('.') },
        { token: `${d.tokens.admin.split('.').slice(0, 2).join('.')}.` },
        { cookie: 'kloudak_session=forged' },
      ];
      for (const auth of odd) cases.push([s, { method: 'GET', path: getPath, headers: auth }]);
    }
    for (const [s, req] of cases) {
      const a = await send(s.url, req);
      count('malformed', a);
      if (a.status >= 500)
        problems.push(`5xx ${s.name} ${describeRequest(req)} -> ${a.status} ${a.text.slice(0, 200)}`);
      const breach = errorContractBreach(a);
      if (breach) problems.push(`error contract ${s.name} ${describeRequest(req)}: ${breach}`);
    }
    await healthy();
    assert.deepEqual(problems, []);
    assert.deepEqual(changed(rows, await fingerprint()), [], 'stored rows changed');
  });

  void test(`valid-shaped requests with wrong, foreign and odd values (${RUNS_SHAPED} per operation): never a 5xx; a refused one changes no stored row`, async (t) => {
    const odd = [
      '...',
      '-',
      '_',
      '.a',
      'a.',
      '-rf',
      '--help',
      'CON',
      'NUL',
      'constructor',
      '__proto__',
      'toString',
      'hasOwnProperty',
      'valueOf',
      'healthz',
      'metrics',
      'openapi.json',
      'login',
      'kloudak-controller',
      'x'.repeat(64),
      '0',
    ];
    const known = [
      d.A,
      d.B,
      d.template,
      d.area,
      d.host,
      d.pool,
      d.n1,
      d.n2,
      d.r1,
      d.v1,
      d.v2,
      d.nB,
      d.rB,
      d.vB,
      d.ownerName,
      d.weakName,
      d.outsiderName,
      'admin',
    ];
    const fresh = fc.stringMatching(/^[0-9a-f]{8}$/).map((h) => `fz-${h}`);
    const name = fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(...known) },
      { weight: 3, arbitrary: fc.constantFrom(...odd) },
      { weight: 3, arbitrary: fresh },
    );
    const hints: Hints = {};
    for (const k of [
      'ws',
      'name',
      'net',
      'area',
      'vm',
      'owner',
      'template',
      'router',
      'network',
      'networks[]',
      'username',
      'marker',
    ])
      hints[k] = name;
    // Lean towards the right workspace, area and template now and then, so requests get past the lookups.
    const often = (right: string) =>
      fc.oneof({ weight: 2, arbitrary: fc.constant(right) }, { weight: 3, arbitrary: name });
    Object.assign(hints, {
      owner: often(d.A),
      ws: often(d.A),
      area: often(d.area),
      template: often(d.template),
    });
    hints.id = fc.oneof(fc.constantFrom(...d.tasksA, ...d.tasksB), fc.uuid());
    hints.wait = fc.constantFrom('0', '00', '1');
    hints.ip = fc.oneof(
      fc.ipV4(),
      fc.constantFrom(
        '10.77.0.5',
        '10.77.0.0',
        '10.77.0.255',
        '0.0.0.0',
        '255.255.255.255',
        '172.20.1.1',
        '172.20.1.300',
      ),
    );
    hints.subnet = fc.constantFrom(
      '10.88.0.0/24',
      '10.77.0.0/24',
      '0.0.0.0/0',
      '10.0.0.0/8',
      '192.168.1.1/32',
      '172.20.1.0/24',
      '10.1.0.0/31',
    );
    hints.password = fc.oneof(
      fc.string({ minLength: 8, maxLength: 40 }),
      fc.constantFrom(`${d.ownerName}-password`, 'admin-password-1', '日本語のパスワード', 'pass\u0000word'),
    );
    hints.secret = fc.oneof(
      fc.string({ minLength: 1, maxLength: 40 }),
      fc.constant('service-secret-for-tests '),
    );

    // Mostly real callers (so requests get past authentication), sometimes a forged or missing token.
    const pick = (names: string[]) => fc.constantFrom(...principals.filter(([n]) => names.includes(n)));
    const caller = fc.oneof(
      { weight: 6, arbitrary: pick(['owner of A', 'service']) },
      { weight: 3, arbitrary: pick(['admin', 'member of A without permissions', 'owner of B']) },
      { weight: 1, arbitrary: pick(['no token', 'expired admin', 'alg none service', 'other key owner']) },
    );
    let rows = await fingerprint();
    const problems: string[] = [];
    let n = 0;
    let accepted = 0;
    // Controller and stats first, deletions last: a fuzzed DELETE /workspaces/<A>/ that succeeds must not leave
    // the rest with nothing to reach. The controller's DELETE /workspaces/ comes after everything: its task
    // tears the workspace down on its own after the 202.
    const teardown = (op: Operation) => op.method === 'DELETE' && op.path === '/workspaces/';
    const [ctl] = services.filter((s) => s.name === 'controller');
    const order = [
      { ...services[1], ops: services[1].ops.filter((op) => !teardown(op)) },
      services[2],
      services[0],
      { ...ctl, ops: ctl.ops.filter(teardown) },
    ].map((s) => ({
      ...s,
      ops: [...s.ops].sort((a, b) => Number(a.method === 'DELETE') - Number(b.method === 'DELETE')),
    }));
    /** Waits until a teardown accepted stops changing rows (it waits on busy objects without writing). */
    const settled = async () => {
      let last = await fingerprint();
      for (let i = 0; i < 40; i++) {
        await new Promise((r) => setTimeout(r, 1500));
        const now = await fingerprint();
        if (!changed(last, now).length) return now;
        last = now;
      }
      return last;
    };
    for (const [si, s] of order.entries()) {
      for (const [oi, op] of s.ops.entries()) {
        const cases = fc.sample(fc.tuple(shapedDraftsOf(op, hints), caller, fc.boolean()), {
          numRuns: RUNS_SHAPED,
          seed: SEED + 7 + si * 1000 + oi,
        });
        for (const [draft, [who, auth], form] of cases) {
          const req = build(op, draft, auth);
          // The inventory also parses HTML forms (the dashboard's login): the same body as a form, at times.
          if (
            form &&
            s.name === 'inventory' &&
            draft.body &&
            'json' in draft.body &&
            typeof draft.body.json === 'object' &&
            draft.body.json
          ) {
            req.headers['content-type'] = 'application/x-www-form-urlencoded';
            req.body = new URLSearchParams(
              Object.entries(draft.body.json).map(([k, v]) => [
                k,
                typeof v === 'string' ? v : JSON.stringify(v),
              ]),
            ).toString();
          }
          const a = await send(s.url, req);
          count('shaped', a);
          count(`shaped ${s.name}`, a);
          n++;
          problems.push(...judge(a, req, who, false, draft.why));
          if (a.status < 400) {
            accepted++;
            await outboxDrained(p);
            rows = s.name === 'controller' && teardown(op) ? await settled() : await fingerprint();
          } else {
            const now = await fingerprint();
            const diff = changed(rows, now);
            if (diff.length)
              problems.push(
                `refused but changed ${diff.join(', ')}: ${who}: ${describeRequest(req)} -> ${a.status} ${a.text.slice(0, 200)}`,
              );
            rows = now;
          }
        }
      }
    }
    t.diagnostic(`${n} valid-shaped requests, ${accepted} accepted`);
    await healthy();
    assert.deepEqual(problems.slice(0, 30), [], `${problems.length} problems`);
  });

  void test('the fuzzing above reached every operation of every service, and its fingerprint sees one changed row', async () => {
    const before = await fingerprint();
    await stats.db
      .insertInto('reservations')
      .values({ host: d.host, memory_mib: 1, vcpus: 1, expires_at: new Date() })
      .execute();
    assert.deepEqual(changed(before, await fingerprint()), ['monitoring.reservations']);
    await stats.db.deleteFrom('reservations').execute();
    assert.deepEqual(changed(before, await fingerprint()), []);

    const total = services.reduce((k, s) => k + s.ops.length, 0);
    assert.ok(services.every((s) => s.ops.length > 0));
    assert.ok(total >= 70, `only ${total} operations in the documents`);
    assert.ok((counts.shaped ?? 0) >= total * RUNS_SHAPED, JSON.stringify(counts));
  });
});
