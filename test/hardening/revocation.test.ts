// Authorization follows current state on every service (issue 14.5): after a member is removed, its flags
// change, it logs out, or its workspace is deleted and re-made under the same name, its old token stops
// working on inventory, the controller, the notification rooms and the stats API within a few seconds (the
// services read inventory's change feed every second; a generous 15 s is allowed here).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inventoryAuthority, type Authority } from '../../src/lib/authority.ts';
import { openDatabase, type Database } from '../../src/lib/db.ts';
import { listen, type App } from '../../src/lib/http.ts';
import { createLogger } from '../../src/lib/log.ts';
import { monitorMigrations, type MonitorDB } from '../../src/monitoring/schema.ts';
import { createStatsApp } from '../../src/monitoring/stats.ts';
import { closeClients, connect, type Client } from '../notification/clients.ts';
import { uniqueName } from '../support/env.ts';
import { startPlatform, until, type TestPlatform } from '../support/platform.ts';
import { scriptedWorker } from '../support/workers.ts';

const log = createLogger('test', process.env.KLOUDAK_TEST_LOG ?? 'silent');
const SOON = 15_000;

void describe('revocation reaches every service within seconds', () => {
  let p: TestPlatform;
  let statsDir: string;
  let statsDb: Database<MonitorDB>;
  let statsAuth: Authority;
  let stats: App;
  let statsUrl: string;
  before(async () => {
    p = await startPlatform('pglite', 'memory');
    statsDir = mkdtempSync(join(tmpdir(), 'kloudak-stats-'));
    statsDb = await openDatabase<MonitorDB>({ dir: statsDir, migrations: monitorMigrations, log });
    statsAuth = inventoryAuthority({
      config: { ...p.inv.config, INVENTORY_URL: p.inv.url },
      log,
      token: () => p.inv.serviceToken('monitoring'),
    });
    stats = await createStatsApp({ db: statsDb.db, auth: statsAuth, log });
    statsUrl = `http://127.0.0.1:${await listen(stats, '127.0.0.1', 0)}`;
  });
  after(async () => {
    closeClients();
    await stats?.close();
    statsAuth?.close();
    await statsDb?.close();
    if (statsDir) rmSync(statsDir, { recursive: true, force: true });
    await p?.close();
  });

  const port = () => Number(new URL(p.notificationUrl).port);
  const status = async (url: string, method: string, path: string, token: string, body?: unknown) => {
    const r = await fetch(url + path, {
      method,
      headers: { token, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    await r.text();
    return r.status;
  };
  /** What the token may do in `ws` on every HTTP service: [inventory, controller list, controller write, stats]. */
  const everywhere = async (ws: string, token: string) => [
    await status(p.inv.url, 'GET', `/${ws}/networks/`, token),
    await status(p.controllerUrl, 'GET', `/tasks/${ws}/`, token),
    await status(p.controllerUrl, 'POST', '/routers/', token, { owner: ws, name: uniqueName('r') }),
    await status(statsUrl, 'GET', `/stats/vms/${ws}/`, token),
  ];
  async function setup() {
    const ownerName = uniqueName('own');
    const owner = await p.inv.user(ownerName);
    const ws = uniqueName('ws');
    assert.equal((await p.inv.call('POST', '/workspaces/', owner, { name: ws })).status, 201);
    const name = uniqueName('m');
    await p.inv.user(name);
    await p.inv.addMember(ws, owner, name, { router_can_add: true });
    const token = await p.inv.login(name);
    assert.deepEqual(await everywhere(ws, token), [200, 200, 202, 200], 'works before');
    const room: Client = await connect(port(), ws, token);
    return { ws, owner, ownerName, name, token, room };
  }

  void test(
    'a removed member: 403 everywhere, and its room closed with 4403',
    { timeout: 60_000 },
    async () => {
      const m = await setup();
      assert.equal((await p.inv.call('DELETE', `/${m.ws}/users/${m.name}/`, m.owner)).status, 200);
      assert.deepEqual(await m.room.closed, {
        code: 4403,
        reason: `no longer a member of workspace ${m.ws}`,
      });
      await until(
        'every service refuses the removed member',
        async () => (await everywhere(m.ws, m.token)).every((s) => s === 403) || undefined,
        SOON,
      );
    },
  );

  void test(
    'a flag taken away: the controller refuses what it allowed a moment ago',
    { timeout: 60_000 },
    async () => {
      const m = await setup();
      assert.equal(
        (await p.inv.call('PUT', `/${m.ws}/users/${m.name}/`, m.owner, { router_can_add: false })).status,
        200,
      );
      await until(
        'the controller refuses a router',
        async () =>
          (await status(p.controllerUrl, 'POST', '/routers/', m.token, {
            owner: m.ws,
            name: uniqueName('r'),
          })) === 403 || undefined,
        SOON,
      );
      assert.deepEqual((await everywhere(m.ws, m.token)).slice(0, 2), [200, 200], 'still a member');
    },
  );

  void test(
    'logout: the old token is refused everywhere (401) and its room closed with 4401',
    { timeout: 60_000 },
    async () => {
      const m = await setup();
      const out = await fetch(`${p.inv.url}/logout/`, { method: 'POST', headers: { token: m.token } });
      assert.equal(out.status, 200);
      assert.deepEqual(await m.room.closed, { code: 4401, reason: 'token revoked' });
      await until(
        'every service refuses the logged-out token',
        async () => (await everywhere(m.ws, m.token)).every((s) => s === 401) || undefined,
        SOON,
      );
      // A new login works at once.
      const fresh = await p.inv.login(m.name);
      assert.deepEqual(await everywhere(m.ws, fresh), [200, 200, 202, 200]);
    },
  );

  void test(
    'a workspace deleted and re-made under its name is another workspace to old members',
    { timeout: 60_000 },
    async () => {
      const m = await setup();
      // Nothing in it but the router setup made (its task pending): a network worker of the test's own makes
      // it, then deletes it when the teardown asks.
      const net = await scriptedWorker(p.bus, 'network', m.ws, () => ({ status: 'successful' }));
      try {
        const del = await p.call('DELETE', '/workspaces/', m.owner, { owner: m.ws });
        assert.equal(del.status, 202, JSON.stringify(del.body));
        assert.equal((await m.room.closed).code, 4403);
      } finally {
        await net.stop();
      }
      const stranger = await p.inv.user(uniqueName('str'));
      assert.equal((await p.inv.call('POST', '/workspaces/', stranger, { name: m.ws })).status, 201);
      await until(
        'the old member has nothing in the new workspace',
        async () => (await everywhere(m.ws, m.token)).every((s) => s === 403) || undefined,
        SOON,
      );
    },
  );
});
