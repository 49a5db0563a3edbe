// The authorization matrix: every authenticated inventory endpoint against every kind of caller, with the
// answer DESIGN "Tokens and permissions" implies for each cell; and no object of another workspace ever leaks.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Permission } from '../../src/lib/auth.ts';
import { uniqueName } from '../support/env.ts';
import { BACKENDS, startInventory, type TestInventory } from '../support/inventory.ts';
import {
  algNoneToken,
  claimsOf,
  expiredToken,
  otherKeyToken,
  tamperedToken,
  wrongIssuerToken,
} from '../support/tokens.ts';

type Kind = 'invalid' | 'outsider' | 'weak' | 'owner' | 'admin' | 'service';
/** Who an endpoint admits: any valid token, user accounts, workspace members, members holding a permission,
 * service tokens only, operators (admins and services), or admins only. The service here is the controller:
 * it holds every service right but `catalogue.write` and `workspaces.manage` (src/lib/rights.ts,
 * test/inventory/service-rights.test.ts for the others). */
type Rule = 'signed-in' | 'user-account' | 'member' | Permission | 'service' | 'operator' | 'admin';
interface Principal {
  name: string;
  kind: Kind;
  headers: Record<string, string>;
}
interface Fix {
  ws: string;
  vm: string;
  net: string;
  router: string;
  member: string;
  target: string;
  template: string;
  area: string;
  host: string;
  pool: string;
  ips: Map<string, string>;
}
interface Endpoint {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: (f: Fix, n: string) => string;
  body?: (f: Fix, n: string) => unknown;
  /** Makes what this cell acts on (n is a name fresh to the cell). */
  setup?: (f: Fix, n: string) => Promise<void>;
  rule: Rule;
  ok: 200 | 201 | 202;
  /** Member management: for people only, never services (issue 14.3/14.9). */
  people?: true;
}

function expected(rule: Rule, kind: Kind, ok: number, people = false): number {
  if (kind === 'invalid') return 401;
  if (people && kind === 'service') return 403;
  switch (rule) {
    case 'signed-in':
      return ok;
    case 'user-account':
      return kind === 'service' ? 403 : ok;
    case 'member':
      return kind === 'outsider' ? 403 : ok;
    case 'service':
      return kind === 'service' ? ok : 403;
    case 'operator':
      return kind === 'admin' || kind === 'service' ? ok : 403;
    case 'admin':
      return kind === 'admin' ? ok : 403;
    default: // a member permission: admins hold every one, services none (issue 14.9)
      return kind === 'outsider' || kind === 'weak' || kind === 'service' ? 403 : ok;
  }
}

for (const backend of BACKENDS) {
  void describe(`authorization matrix (${backend})`, () => {
    let inv: TestInventory;
    let admin: string;
    let service: string;
    let owner: string;
    let weak: string;
    let outsider: string;
    let principals: Principal[];
    const f: Fix = { ips: new Map() } as Fix;
    /** Names of the other workspace's objects: no answer about workspace A may contain them. */
    const foreign: string[] = [];
    let wsB: string;

    const send = async (method: string, path: string, headers: Record<string, string>, body?: unknown) => {
      const h = { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) };
      const res = await fetch(inv.url + path, {
        method,
        headers: h,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return {
        status: res.status,
        text,
        body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined,
      };
    };
    const ok = async (r: Promise<{ status: number; body: unknown }>) => {
      const a = await r;
      assert.ok(a.status < 300, `fixture: ${a.status} ${JSON.stringify(a.body)}`);
      return a.body as Record<string, unknown>;
    };
    const svc = (method: string, path: string, body?: unknown) => ok(inv.call(method, path, service, body));
    const templateBody = (name: string) => ({ name, os: 'debian', cpu: 1, ram: 0.5, disk: 4 });
    const areaBody = (name: string) => ({ name, subnet: '10.200.0.0/16' });
    const hostBody = (name: string) => ({
      name,
      address: '10.200.0.9',
      libvirt_uri: 'qemu+ssh://root@10.200.0.9/system',
      area: f.area,
      cpus: 4,
      memory: 8,
    });
    const poolBody = (name: string) => ({ name, path: '/var/lib/kloudak/pool', area: f.area, size: 100 });
    const vmBody = (name: string) => ({ name, area: f.area, template: f.template, networks: [f.net] });

    before(async () => {
      inv = await startInventory(backend);
      admin = await inv.adminToken();
      service = await inv.serviceToken('controller');
      const ownerName = uniqueName('owner');
      owner = await inv.user(ownerName);
      f.member = uniqueName('weak');
      weak = await inv.user(f.member);
      f.target = uniqueName('target');
      await inv.user(f.target);
      outsider = await inv.user(uniqueName('outsider'));
      Object.assign(f, {
        ws: uniqueName('wsa'),
        vm: uniqueName('vm'),
        net: uniqueName('net'),
        router: uniqueName('rt'),
      });
      Object.assign(f, {
        template: uniqueName('tpl'),
        area: uniqueName('area'),
        host: uniqueName('host'),
        pool: uniqueName('pool'),
      });

      await ok(inv.call('POST', '/templates/', admin, templateBody(f.template)));
      await ok(inv.call('POST', '/areas/', admin, areaBody(f.area)));
      await ok(inv.call('POST', '/hosts/', admin, hostBody(f.host)));
      await ok(inv.call('POST', '/pools/', admin, poolBody(f.pool)));
      await ok(inv.call('POST', '/workspaces/', owner, { name: f.ws }));
      await inv.addMember(f.ws, owner, f.member);
      await inv.addMember(f.ws, owner, f.target);
      await svc('POST', `/${f.ws}/networks/`, { name: f.net });
      await svc('POST', `/${f.ws}/routers/`, { name: f.router });
      await svc('POST', `/${f.ws}/routers/${f.router}/interfaces/`, { network: f.net, ip: '192.168.1.1' });
      await svc('POST', `/${f.ws}/vms/`, vmBody(f.vm));

      // The outsider's own workspace, full of objects with telltale names.
      wsB = uniqueName('wsb');
      await ok(inv.call('POST', '/workspaces/', outsider, { name: wsB }));
      const [vB, nB, rB] = [uniqueName('leakvm'), uniqueName('leaknet'), uniqueName('leakrt')];
      foreign.push(vB, nB, rB);
      await svc('POST', `/${wsB}/networks/`, { name: nB });
      await svc('POST', `/${wsB}/routers/`, { name: rB });
      await svc('POST', `/${wsB}/vms/`, { name: vB, area: f.area, template: f.template, networks: [nB] });

      const weakClaims = claimsOf(weak);
      principals = [
        { name: 'no token', kind: 'invalid', headers: {} },
        { name: 'garbage token', kind: 'invalid', headers: { token: 'not.a.token' } },
        // Forgeries of powerful tokens: if verification were skipped they would pass as admin or service.
        {
          name: 'expired (admin)',
          kind: 'invalid',
          headers: { token: await expiredToken(inv.config, admin) },
        },
        {
          name: 'other key (admin)',
          kind: 'invalid',
          headers: { token: await otherKeyToken(inv.config, admin) },
        },
        {
          name: 'other issuer (service)',
          kind: 'invalid',
          headers: { token: await wrongIssuerToken(inv.config, service) },
        },
        { name: 'alg none (service)', kind: 'invalid', headers: { token: algNoneToken(claimsOf(service)) } },
        {
          name: 'tampered (member made service)',
          kind: 'invalid',
          headers: {
            token: tamperedToken(weak, { ...weakClaims, kloudak_service: true, kloudak_admin: true }),
          },
        },
        { name: 'other workspace', kind: 'outsider', headers: { token: outsider } },
        { name: 'member without permissions', kind: 'weak', headers: { token: weak } },
        {
          name: 'member with every permission',
          kind: 'owner',
          headers: { authorization: `Bearer ${owner}` },
        },
        { name: 'admin', kind: 'admin', headers: { token: admin } },
        { name: 'service', kind: 'service', headers: { token: service } },
      ];
    });
    after(async () => {
      await inv?.close();
    });

    const ws = (path: string) => (fx: Fix) => `/${fx.ws}${path}`;
    const endpoints: Endpoint[] = [
      { method: 'GET', path: () => '/workspaces/', rule: 'signed-in', ok: 200 },
      {
        method: 'POST',
        path: () => '/workspaces/',
        body: (_, n) => ({ name: n }),
        rule: 'user-account',
        ok: 201,
      },
      { method: 'GET', path: (x) => `/workspaces/${x.ws}/`, rule: 'member', ok: 200 },
      // The last step of the controller's teardown task (issue 14.4): a service, once the workspace is marked
      // being deleted; members, owners and admins delete through the controller.
      {
        method: 'DELETE',
        path: (_, n) => `/workspaces/${n}/`,
        setup: async (x, n) => {
          await ok(inv.call('POST', '/workspaces/', owner, { name: n }));
          await inv.addMember(n, owner, x.member);
          await ok(inv.call('PUT', `/workspaces/${n}/`, await inv.serviceToken(), { state: 'X' }));
        },
        rule: 'service',
        ok: 200,
      },
      { method: 'GET', path: ws('/users/'), rule: 'member', ok: 200 },
      {
        method: 'POST',
        path: ws('/users/'),
        body: (_, n) => ({ name: n, vm_can_add: true }),
        setup: async (_, n) => void (await inv.user(n)),
        rule: 'user_can_add',
        ok: 202,
        people: true,
      },
      { method: 'GET', path: ws('/invitations/'), rule: 'user_can_add', ok: 200 },
      {
        method: 'DELETE',
        path: (x, n) => `/${x.ws}/invitations/${n}/`,
        setup: (x, n) => ok(inv.call('POST', `/${x.ws}/users/`, owner, { name: n })).then(() => undefined),
        rule: 'user_can_add',
        ok: 200,
        people: true,
      },
      { method: 'GET', path: (x) => `/${x.ws}/users/${x.member}/`, rule: 'member', ok: 200 },
      {
        method: 'PUT',
        path: (x) => `/${x.ws}/users/${x.target}/`,
        body: () => ({ network_can_add: true }),
        rule: 'user_can_edit',
        ok: 200,
        people: true,
      },
      {
        method: 'DELETE',
        path: (x, n) => `/${x.ws}/users/${n}/`,
        setup: async (x, n) => {
          await inv.user(n);
          await inv.addMember(x.ws, owner, n);
        },
        rule: 'user_can_delete',
        ok: 200,
        people: true,
      },
      { method: 'GET', path: () => '/invitations/', rule: 'user-account', ok: 200 },
      { method: 'GET', path: () => '/account/', rule: 'user-account', ok: 200 },
      { method: 'GET', path: () => '/auth/changes/', rule: 'service', ok: 200 },
      { method: 'GET', path: ws('/vms/'), rule: 'member', ok: 200 },
      { method: 'GET', path: (x) => `/${x.ws}/vms/${x.vm}/`, rule: 'member', ok: 200 },
      { method: 'POST', path: ws('/vms/'), body: (_, n) => vmBody(n), rule: 'service', ok: 201 },
      {
        method: 'PUT',
        path: (x) => `/${x.ws}/vms/${x.vm}/`,
        body: () => ({ description: 'edited', state: 'U' }),
        rule: 'service',
        ok: 200,
      },
      {
        method: 'DELETE',
        path: (x, n) => `/${x.ws}/vms/${n}/`,
        setup: (x, n) => svc('POST', `/${x.ws}/vms/`, vmBody(n)).then(() => undefined),
        rule: 'service',
        ok: 200,
      },
      { method: 'GET', path: ws('/networks/'), rule: 'member', ok: 200 },
      { method: 'GET', path: (x) => `/${x.ws}/networks/${x.net}/`, rule: 'member', ok: 200 },
      {
        method: 'POST',
        path: ws('/networks/'),
        body: (_, n) => ({ name: n, vlan: 100 }),
        rule: 'service',
        ok: 201,
      },
      {
        method: 'PUT',
        path: (x) => `/${x.ws}/networks/${x.net}/`,
        body: () => ({ state: 'U' }),
        rule: 'service',
        ok: 200,
      },
      {
        method: 'DELETE',
        path: (x, n) => `/${x.ws}/networks/${n}/`,
        setup: (x, n) => svc('POST', `/${x.ws}/networks/`, { name: n }).then(() => undefined),
        rule: 'service',
        ok: 200,
      },
      { method: 'GET', path: ws('/routers/'), rule: 'member', ok: 200 },
      { method: 'GET', path: (x) => `/${x.ws}/routers/${x.router}/`, rule: 'member', ok: 200 },
      { method: 'POST', path: ws('/routers/'), body: (_, n) => ({ name: n }), rule: 'service', ok: 201 },
      {
        method: 'PUT',
        path: (x) => `/${x.ws}/routers/${x.router}/`,
        body: () => ({ state: 'U' }),
        rule: 'service',
        ok: 200,
      },
      {
        method: 'DELETE',
        path: (x, n) => `/${x.ws}/routers/${n}/`,
        setup: (x, n) => svc('POST', `/${x.ws}/routers/`, { name: n }).then(() => undefined),
        rule: 'service',
        ok: 200,
      },
      { method: 'GET', path: (x) => `/${x.ws}/routers/${x.router}/interfaces/`, rule: 'member', ok: 200 },
      {
        method: 'GET',
        path: (x) => `/${x.ws}/routers/${x.router}/interfaces/${x.net}/`,
        rule: 'member',
        ok: 200,
      },
      {
        method: 'POST',
        path: (x) => `/${x.ws}/routers/${x.router}/interfaces/`,
        body: (_, n) => ({ network: n, ip: '192.168.2.1' }),
        setup: (x, n) => svc('POST', `/${x.ws}/networks/`, { name: n }).then(() => undefined),
        rule: 'service',
        ok: 201,
      },
      {
        method: 'DELETE',
        path: (x, n) => `/${x.ws}/routers/${x.router}/interfaces/${n}/`,
        setup: async (x, n) => {
          await svc('POST', `/${x.ws}/networks/`, { name: n });
          await svc('POST', `/${x.ws}/routers/${x.router}/interfaces/`, { network: n, ip: '192.168.3.1' });
        },
        rule: 'service',
        ok: 200,
      },
      ...(
        [
          ['templates', 'template', templateBody, 'signed-in'],
          ['areas', 'area', areaBody, 'signed-in'],
          ['hosts', 'host', hostBody, 'operator'],
          ['pools', 'pool', poolBody, 'operator'],
        ] as const
      ).flatMap(([table, key, body, readers]): Endpoint[] => [
        { method: 'GET', path: () => `/${table}/`, rule: readers, ok: 200 },
        { method: 'GET', path: (x) => `/${table}/${x[key]}/`, rule: readers, ok: 200 },
        { method: 'POST', path: () => `/${table}/`, body: (_, n) => body(n), rule: 'admin', ok: 201 },
        {
          method: 'PUT',
          path: (x) => `/${table}/${x[key]}/`,
          body: (x) => body(x[key]),
          rule: 'admin',
          ok: 200,
        },
        {
          method: 'DELETE',
          path: (_, n) => `/${table}/${n}/`,
          setup: (_, n) => ok(inv.call('POST', `/${table}/`, admin, body(n))).then(() => undefined),
          rule: 'admin',
          ok: 200,
        },
      ]),
      { method: 'GET', path: (x) => `/address/${x.area}/get_ip/`, rule: 'operator', ok: 200 },
      {
        method: 'DELETE',
        path: (x, n) => `/address/${x.area}/${x.ips.get(n)}/`,
        setup: async (x, n) =>
          void x.ips.set(n, (await svc('GET', `/address/${x.area}/get_ip/`)).ip as string),
        rule: 'operator',
        ok: 200,
      },
    ];

    for (const e of endpoints) {
      const label = `${e.method} ${e.path({ ws: '<ws>', vm: '<vm>', net: '<net>', router: '<r>', member: '<user>', target: '<user>', template: '<t>', area: '<a>', host: '<h>', pool: '<p>', ips: new Map() }, '<new>')}`;
      void test(`${label} answers each caller as DESIGN.md implies`, async () => {
        const want: Record<string, number> = {};
        const got: Record<string, number> = {};
        for (const p of principals) {
          const n = uniqueName('m');
          await e.setup?.(f, n);
          const r = await send(e.method, e.path(f, n), p.headers, e.body?.(f, n));
          want[p.name] = expected(e.rule, p.kind, e.ok, e.people);
          got[p.name] = r.status;
          for (const name of foreign)
            assert.ok(!r.text.includes(name), `${p.name}: answer leaks ${name} of another workspace`);
          if (r.status >= 400) {
            assert.equal(typeof r.body?.error, 'string', `${p.name}: error body ${r.text}`);
            assert.ok(
              Object.keys(r.body!).every((k) => k === 'error' || k === 'field'),
              `${p.name}: only error and field in ${r.text}`,
            );
          }
          if (p.kind === 'outsider' && r.status < 300) {
            for (const name of [f.ws, f.vm, f.net, f.router])
              assert.ok(!r.text.includes(name), `outsider sees ${name}: ${r.text}`);
          }
        }
        assert.deepEqual(got, want);
      });
    }

    void test('a non-member gets the same 403 whether or not the workspace exists; operators get 404 for a missing one', async () => {
      const ghost = { ...f, ws: uniqueName('ghost') };
      for (const e of endpoints.filter((x) => x.path(f, 'n').includes(`/${f.ws}/`))) {
        const n = uniqueName('g');
        const label = `${e.method} ${e.path(f, n)}`;
        const real = await send(e.method, e.path(f, n), { token: outsider }, e.body?.(f, n));
        const none = await send(e.method, e.path(ghost, n), { token: outsider }, e.body?.(ghost, n));
        assert.equal(real.status, 403, label);
        assert.deepEqual(
          none,
          { ...real, text: none.text, body: JSON.parse(real.text.split(f.ws).join(ghost.ws)) },
          `${label}: same answer`,
        );
        for (const token of [weak, owner])
          assert.equal(
            (await send(e.method, e.path(ghost, n), { token }, e.body?.(ghost, n))).status,
            403,
            label,
          );
        const svcAnswer = await send(e.method, e.path(ghost, n), { token: service }, e.body?.(ghost, n));
        // Member permissions are never a service's: refused before the workspace is looked up.
        const refused = e.people || expected(e.rule, 'service', 200) === 403;
        assert.equal(svcAnswer.status, refused ? 403 : 404, `service ${label}`);
        if (!refused) assert.equal(svcAnswer.body?.field, 'workspace');
        const adminAnswer = await send(e.method, e.path(ghost, n), { token: admin }, e.body?.(ghost, n));
        assert.equal(adminAnswer.status, e.rule === 'service' ? 403 : 404, `admin ${label}`);
      }
    });

    void test("lists show only the caller's workspaces and objects", async () => {
      const names = async (token: string) =>
        ((await inv.call('GET', '/workspaces/', token)).body.workspaces as { name: string }[]).map(
          (w) => w.name,
        );
      const mine = await names(weak);
      assert.ok(mine.includes(f.ws) && !mine.includes(wsB));
      const theirs = await names(outsider);
      assert.ok(theirs.includes(wsB) && !theirs.includes(f.ws));
      const all = await names(admin);
      assert.ok(all.includes(f.ws) && all.includes(wsB));
      const vms = (await inv.call('GET', `/${f.ws}/vms/`, weak)).body.vms.map(
        (v: { name: string }) => v.name,
      );
      assert.ok(vms.includes(f.vm));
      assert.ok(!vms.some((v: string) => foreign.includes(v)));
    });

    void test('objects of another workspace cannot be reached or referenced through this one, even by a service', async () => {
      const [vB, nB, rB] = foreign as [string, string, string];
      assert.equal((await inv.call('GET', `/${f.ws}/vms/${vB}/`, service)).status, 404);
      assert.equal((await inv.call('GET', `/${f.ws}/networks/${nB}/`, service)).status, 404);
      assert.equal((await inv.call('GET', `/${f.ws}/routers/${rB}/interfaces/`, service)).status, 404);
      const vm = await inv.call('POST', `/${f.ws}/vms/`, service, {
        ...vmBody(uniqueName('x')),
        networks: [nB],
      });
      assert.equal(vm.status, 400);
      assert.equal(vm.body.field, 'networks');
      const itf = await inv.call('POST', `/${f.ws}/routers/${f.router}/interfaces/`, service, {
        network: nB,
        ip: '10.0.0.1',
      });
      assert.equal(itf.status, 400);
      assert.equal(itf.body.field, 'network');
      assert.equal((await inv.call('DELETE', `/${f.ws}/vms/${vB}/`, service)).status, 404);
      assert.equal(
        (await inv.call('GET', `/${f.ws}/vms/${f.vm}/`, weak)).status,
        200,
        'and nothing of this one was touched',
      );
    });
  });
}
