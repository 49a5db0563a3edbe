// Identity: signup, login with the session cookie, get_token, logout, the token's claims (book chapter 3),
// service tokens, login throttling; and the service surface every HTTP service has (healthz, metrics,
// OpenAPI, X-Request-Id).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet } from 'jose';
import {
  ADMIN_CLAIM,
  ISSUER,
  PERMISSIONS,
  SERVICE_CLAIM,
  UID_CLAIM,
  VERSION_CLAIM,
} from '../../src/lib/auth.ts';
import { pgDatabaseUrl, uniqueName } from '../support/env.ts';
import { BACKENDS, startInventory, type TestInventory } from '../support/inventory.ts';
import {
  algNoneToken,
  claimsOf,
  expiredToken,
  inventoryKey,
  otherKeyToken,
  signRaw,
  tamperedToken,
  wrongIssuerToken,
} from '../support/tokens.ts';

const REGISTERED = ['iss', 'sub', 'iat', 'exp'];

function sessionCookie(res: Response): string | undefined {
  return res.headers.getSetCookie().find((c) => c.startsWith('kloudak_session='));
}

for (const backend of BACKENDS) {
  void describe(`identity (${backend})`, () => {
    let inv: TestInventory;
    before(async () => {
      inv = await startInventory(backend);
    });
    after(async () => {
      await inv?.close();
    });

    const signup = (username: string, password = `${username}-password`) =>
      inv.call('POST', '/signup/', undefined, { username, password, email: `${username}@example.test` });
    const rawLogin = (username: string, password: string, cookie?: string) =>
      fetch(`${inv.url}/login/`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(cookie ? { cookie } : {}) },
        body: JSON.stringify({ username, password }),
      });

    void test('signup answers 201 without the password; a taken or reserved name is refused', async () => {
      const name = uniqueName('alice');
      const r = await signup(name);
      assert.equal(r.status, 201);
      assert.deepEqual(r.body, { username: name, email: `${name}@example.test` });
      const dup = await signup(name);
      assert.equal(dup.status, 409);
      assert.equal(dup.body.field, 'username');
      for (const reserved of ['kloudak-controller', 'username', 'exp', 'kloudak_admin']) {
        const x = await signup(reserved);
        assert.equal(x.status, 400, reserved);
        assert.equal(x.body.field, 'username', reserved);
      }
    });

    void test('login sets the session cookie; get_token with it answers a token; logout clears it', async () => {
      const name = uniqueName('sess');
      await signup(name);
      const res = await rawLogin(name, `${name}-password`);
      assert.equal(res.status, 200);
      const { token } = (await res.json()) as { token: string };
      assert.equal(decodeJwt(token).username, name);
      const set = sessionCookie(res);
      assert.ok(set, 'login sets kloudak_session');
      assert.match(set, /HttpOnly/i);
      const cookie = set.split(';')[0] ?? '';

      const noCookie = await fetch(`${inv.url}/get_token/`);
      assert.equal(noCookie.status, 401);
      const withCookie = await fetch(`${inv.url}/get_token/`, { headers: { cookie } });
      assert.equal(withCookie.status, 200);
      const fresh = ((await withCookie.json()) as { token: string }).token;
      assert.equal(decodeJwt(fresh).username, name);
      assert.equal(decodeJwt(fresh).email, `${name}@example.test`);

      const forged = await fetch(`${inv.url}/get_token/`, {
        headers: { cookie: 'kloudak_session=not-a-session' },
      });
      assert.equal(forged.status, 401);

      const out = await fetch(`${inv.url}/logout/`, { headers: { cookie } });
      assert.equal(out.status, 200);
      const cleared = sessionCookie(out);
      assert.ok(cleared, 'logout sets the cookie again');
      assert.match(cleared, /^kloudak_session=;/);
      assert.match(cleared, /Expires=Thu, 01 Jan 1970|Max-Age=0/i);
      const afterLogout = await fetch(`${inv.url}/get_token/`, { headers: { cookie } });
      assert.equal(afterLogout.status, 401, 'the old session is gone on the server too');
      assert.equal(((await afterLogout.json()) as { error: string }).error.length > 0, true);
    });

    void test('login takes the dashboard form encoding too; wrong password and unknown user are 401', async () => {
      const name = uniqueName('form');
      await signup(name);
      const form = await fetch(`${inv.url}/login/`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ username: name, password: `${name}-password` }).toString(),
      });
      assert.equal(form.status, 200);
      const bad = await inv.call('POST', '/login/', undefined, {
        username: name,
        password: 'wrong-password',
      });
      assert.equal(bad.status, 401);
      assert.equal(typeof bad.body.error, 'string');
      const nobody = await inv.call('POST', '/login/', undefined, {
        username: uniqueName('nobody'),
        password: 'whatever1',
      });
      assert.equal(nobody.status, 401);
      assert.deepEqual(
        Object.keys(nobody.body),
        Object.keys(bad.body),
        'unknown user and wrong password look alike',
      );
    });

    void test('a user token says who, not what: username, email, uid, ver; /account/ says what', async () => {
      const owner = uniqueName('own');
      const ownerToken = await inv.user(owner);
      const ws1 = uniqueName('ws');
      const ws2 = uniqueName('ws');
      const bob = uniqueName('bob');
      await inv.user(bob);
      assert.equal((await inv.call('POST', '/workspaces/', ownerToken, { name: ws1 })).status, 201);
      assert.equal((await inv.call('POST', '/workspaces/', ownerToken, { name: ws2 })).status, 201);
      await inv.addMember(ws1, ownerToken, bob);
      await inv.addMember(ws2, ownerToken, bob, { vm_can_add: true, router_can_delete: true });

      const token = await inv.login(bob);
      const claims = decodeJwt(token);
      assert.deepEqual(
        Object.keys(claims).sort(),
        ['username', 'email', UID_CLAIM, VERSION_CLAIM, ...REGISTERED].sort(),
        'no workspace claims: the token stays small whatever the memberships',
      );
      assert.equal(claims.username, bob);
      assert.equal(claims.email, `${bob}@example.test`);
      assert.equal(typeof claims[UID_CLAIM], 'number');
      assert.equal(typeof claims[VERSION_CLAIM], 'number');
      assert.equal(claims.iss, ISSUER);
      assert.equal(claims.exp! - claims.iat!, inv.config.TOKEN_TTL);

      const account = (await inv.call('GET', '/account/', token)).body;
      assert.equal(account.username, bob);
      assert.equal(account.admin, false);
      const byName = Object.fromEntries(
        account.workspaces.map((w: Record<string, unknown>) => [w.name, w]),
      ) as Record<string, Record<string, unknown>>;
      assert.deepEqual(Object.keys(byName).sort(), [ws1, ws2].sort());
      assert.ok(PERMISSIONS.every((p) => byName[ws1][p] === false));
      assert.deepEqual(PERMISSIONS.filter((p) => byName[ws2][p]).sort(), ['router_can_delete', 'vm_can_add']);
      assert.notEqual(byName[ws1].id, byName[ws2].id);
      const mine = (await inv.call('GET', '/account/', await inv.login(owner))).body;
      assert.ok(
        mine.workspaces.every((w: { owner: boolean }) => w.owner),
        'the creator owns both',
      );
      const ownerClaims = decodeJwt(ownerToken);
      assert.equal(ownerClaims[ADMIN_CLAIM], undefined);
      assert.equal(ownerClaims[SERVICE_CLAIM], undefined);
    });

    void test('tokens verify against the JWKS the inventory publishes', async () => {
      const jwks = (await inv.call('GET', '/.well-known/jwks.json')).body as JSONWebKeySet;
      assert.equal(jwks.keys.length, 1);
      assert.ok(jwks.keys[0] && !('d' in jwks.keys[0]), 'no private part');
      const keySet = createLocalJWKSet(jwks);
      const { payload, protectedHeader } = await jwtVerify(await inv.user(uniqueName('jw')), keySet, {
        issuer: ISSUER,
      });
      assert.equal(protectedHeader.alg, 'EdDSA');
      assert.equal(typeof payload.username, 'string');
    });

    void test('forged tokens fail for the one thing forged: the same claims signed properly pass', async () => {
      const admin = await inv.adminToken();
      const hosts = (token: string) => inv.call('GET', '/hosts/', token).then((r) => r.status);
      assert.equal(
        await hosts(await signRaw(inventoryKey(inv.config), claimsOf(admin))),
        200,
        'a re-signed copy is accepted',
      );
      assert.equal(await hosts(await expiredToken(inv.config, admin)), 401, 'expired');
      assert.equal(await hosts(await otherKeyToken(inv.config, admin)), 401, 'other key, same kid');
      assert.equal(await hosts(await wrongIssuerToken(inv.config, admin)), 401, 'other issuer');
      assert.equal(await hosts(algNoneToken(claimsOf(admin))), 401, 'alg none');
      assert.equal(await hosts(tamperedToken(admin, { username: 'someone-else' })), 401, 'payload edited');
      assert.equal(
        await hosts(admin.slice(0, -4) + (admin.endsWith('AAAA') ? 'BBBB' : 'AAAA')),
        401,
        'signature edited',
      );
      const noName = await signRaw(inventoryKey(inv.config), { kloudak_admin: true });
      assert.equal(await hosts(noName), 401, 'no username claim');
    });

    void test('admin and service tokens carry their marking claims; service tokens need the secret', async () => {
      const admin = decodeJwt(await inv.adminToken());
      assert.equal(admin.username, inv.config.ADMIN_USER);
      assert.equal(admin[ADMIN_CLAIM], true);
      assert.equal(admin[SERVICE_CLAIM], undefined);

      for (const service of ['controller', 'compute'] as const) {
        const claims = decodeJwt(await inv.serviceToken(service));
        assert.equal(claims.username, `kloudak-${service}`);
        assert.equal(claims[SERVICE_CLAIM], true);
        assert.deepEqual(
          Object.keys(claims).sort(),
          ['username', SERVICE_CLAIM, 'service', ...REGISTERED].sort(),
        );
        assert.equal(claims.service, service);
      }
      const wrong = await inv.call('POST', '/service_token/', undefined, {
        service: 'controller',
        secret: 'not-the-secret',
      });
      assert.equal(wrong.status, 401);
      const unknown = await inv.call('POST', '/service_token/', undefined, {
        service: 'mallory',
        secret: inv.serviceSecret,
      });
      assert.equal(unknown.status, 400);
      assert.equal(unknown.body.field, 'service');
    });

    void test('membership is read from the database: a token made before or after a change is judged by now', async () => {
      const owner = await inv.user(uniqueName('own'));
      const carol = uniqueName('carol');
      const before = await inv.user(carol); // made before carol is a member
      const ws = uniqueName('ws');
      await inv.call('POST', '/workspaces/', owner, { name: ws });
      await inv.addMember(ws, owner, carol);
      assert.equal(
        (await inv.call('GET', `/${ws}/vms/`, before)).status,
        200,
        'added after the token was made',
      );
      const during = await inv.login(carol);
      assert.equal((await inv.call('DELETE', `/${ws}/users/${carol}/`, owner)).status, 200);
      assert.equal(
        (await inv.call('GET', `/${ws}/vms/`, during)).status,
        403,
        'removed although the token was made while a member',
      );
    });

    void test('after 5 failed logins a user gets 429 with retry-after, even with the right password', async () => {
      const name = uniqueName('brute');
      await signup(name);
      for (let i = 0; i < 5; i++) assert.equal((await rawLogin(name, `wrong-${i}-password`)).status, 401);
      const blocked = await rawLogin(name, `${name}-password`);
      assert.equal(blocked.status, 429);
      const wait = Number(blocked.headers.get('retry-after'));
      assert.ok(Number.isInteger(wait) && wait > 0 && wait <= inv.config.LOGIN_WINDOW, `retry-after ${wait}`);
      assert.equal(typeof ((await blocked.json()) as { error: string }).error, 'string');
      const other = uniqueName('fine');
      await signup(other);
      assert.equal((await rawLogin(other, `${other}-password`)).status, 200, 'other users are not blocked');
    });

    void test('login throttling per user and per address honours the configured limits', async () => {
      const small = await startInventory(backend, {
        LOGIN_MAX_FAILURES_PER_USER: '3',
        LOGIN_MAX_FAILURES_PER_ADDRESS: '8',
      });
      try {
        const login = (u: string, p: string) =>
          small.call('POST', '/login/', undefined, { username: u, password: p });
        const [a, d, e, f] = ['a', 'd', 'e', 'f'].map((x) => uniqueName(x)) as [
          string,
          string,
          string,
          string,
        ];
        for (const u of [a, d, e, f])
          await small.call('POST', '/signup/', undefined, {
            username: u,
            password: `${u}-password`,
            email: `${u}@x.test`,
          });
        for (let i = 0; i < 3; i++) assert.equal((await login(a, 'wrong-password')).status, 401); // address: 3
        const blocked = await login(a, `${a}-password`);
        assert.equal(blocked.status, 429, 'per user');
        assert.ok(Number(blocked.headers.get('retry-after')) > 0);
        // A success resets the user's count: 2 + 2 failures never reach 3.
        for (let i = 0; i < 2; i++) assert.equal((await login(d, 'wrong-password')).status, 401); // address: 5
        assert.equal((await login(d, `${d}-password`)).status, 200);
        for (let i = 0; i < 2; i++) assert.equal((await login(d, 'wrong-password')).status, 401); // address: 7
        assert.equal((await login(d, `${d}-password`)).status, 200);
        assert.equal((await login(e, 'wrong-password')).status, 401); // address: 8
        const byAddress = await login(f, `${f}-password`);
        assert.equal(byAddress.status, 429, 'per address, for a user with no failures of its own');
        assert.ok(Number(byAddress.headers.get('retry-after')) > 0);
      } finally {
        await small.close();
      }
    });

    void test('two inventory instances on one database count the same failed logins', async () => {
      if (backend !== 'postgres') return; // PGlite is one process's database
      const shared = { LOGIN_MAX_FAILURES_PER_USER: '3', INVENTORY_DB: pgDatabaseUrl('kshared') };
      const first = await startInventory(backend, shared);
      const second = await startInventory(backend, shared);
      try {
        const u = uniqueName('twice');
        await first.call('POST', '/signup/', undefined, {
          username: u,
          password: `${u}-password`,
          email: `${u}@x.test`,
        });
        const at = (i: TestInventory, password: string) =>
          i.call('POST', '/login/', undefined, { username: u, password });
        assert.equal((await at(first, 'wrong-password')).status, 401);
        assert.equal((await at(second, 'wrong-password')).status, 401);
        assert.equal((await at(first, 'wrong-password')).status, 401);
        assert.equal(
          (await at(second, `${u}-password`)).status,
          429,
          'failures made at either instance count',
        );
      } finally {
        await first.close();
        await second.close();
      }
    });

    void test('healthz, metrics (Prometheus text) and the OpenAPI document are served', async () => {
      const h = await inv.call('GET', '/healthz');
      assert.equal(h.status, 200);
      assert.equal(h.body.status, 'ok');
      await inv.call('GET', '/templates/', await inv.adminToken());
      const m = await fetch(`${inv.url}/metrics`);
      assert.equal(m.status, 200);
      assert.match(m.headers.get('content-type') ?? '', /^text\/plain/);
      const text = await m.text();
      assert.match(text, /^# TYPE kloudak_http_request_duration_seconds histogram$/m);
      assert.match(
        text,
        /kloudak_http_request_duration_seconds_count\{[^}]*route="\/templates\/"[^}]*\} [1-9]/,
      );
      assert.match(text, /^process_cpu_seconds_total\{service="inventory"\} /m);
      const doc = (await inv.call('GET', '/openapi.json')).body;
      assert.match(String(doc.openapi), /^3\./);
      for (const p of [
        '/signup/',
        '/login/',
        '/get_token/',
        '/workspaces/',
        '/workspaces/{ws}/',
        '/{ws}/users/{name}/',
        '/{ws}/vms/',
        '/{ws}/vms/{name}/',
        '/{ws}/networks/',
        '/{ws}/routers/{name}/interfaces/{net}/',
        '/templates/',
        '/areas/{name}/',
        '/hosts/',
        '/pools/',
        '/address/{area}/get_ip/',
      ])
        assert.ok(doc.paths[p], `openapi has ${p}`);
      assert.ok(doc.paths['/{ws}/vms/'].post.requestBody, 'bodies are described');
    });

    void test('X-Request-Id: a well-formed incoming id is kept, otherwise one is made; errors carry it too', async () => {
      const kept = await fetch(`${inv.url}/healthz`, { headers: { 'x-request-id': 'abc-123.test' } });
      assert.equal(kept.headers.get('x-request-id'), 'abc-123.test');
      const made = await fetch(`${inv.url}/healthz`);
      assert.match(made.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
      const junk = await fetch(`${inv.url}/healthz`, { headers: { 'x-request-id': 'bad id <script>' } });
      assert.notEqual(junk.headers.get('x-request-id'), 'bad id <script>');
      assert.match(junk.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
      const err = await fetch(`${inv.url}/workspaces/`, { headers: { 'x-request-id': 'err-1' } });
      assert.equal(err.status, 401);
      assert.equal(err.headers.get('x-request-id'), 'err-1');
      const missing = await fetch(`${inv.url}/no/such/route/`, { headers: { 'x-request-id': 'nf-1' } });
      assert.equal(missing.status, 404);
      assert.equal(missing.headers.get('x-request-id'), 'nf-1');
    });
  });
}
