// Issue 12 item 1: the dashboard's /api/stats/* reach monitoring's stats API (GET /stats/*) with the caller's
// token; while monitoring does not answer, the answer is 503 "no data yet", and that expected state is not
// logged as a failed request (no error line, no stack).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dashboardRoutes } from '../../src/dashboard/routes.ts';
import { createApp, type App } from '../../src/lib/http.ts';
import { createLogger } from '../../src/lib/log.ts';
import { freePort } from '../support/cluster.ts';

const apps: App[] = [];
after(async () => {
  for (const a of apps) await a.close();
});

async function inventoryWith(statsUrl: string) {
  const lines: string[] = [];
  const app = await createApp({
    service: 'inventory',
    description: 'test',
    log: createLogger('inventory', 'info', { write: (s: string) => void lines.push(s) }),
  });
  await dashboardRoutes(app, { config: { STATS_URL: statsUrl } });
  apps.push(app);
  return { app, lines };
}

test("a stats call reaches monitoring's /stats/ path with the caller's token", async () => {
  const seen: { url?: string; headers: IncomingHttpHeaders }[] = [];
  const monitoring = createServer((req, res) => {
    seen.push({ url: req.url, headers: req.headers });
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ samples: [{ at: '2026-11-30T10:00:00.000Z', rss_kib: 1024 }] }));
  });
  await new Promise<void>((r) => monitoring.listen(0, '127.0.0.1', r));
  try {
    const { port } = monitoring.address() as AddressInfo;
    const { app } = await inventoryWith(`http://127.0.0.1:${port}/`);
    const r = await app.inject({
      method: 'GET',
      url: '/api/stats/vms/ws1/vm1/?minutes=5',
      headers: { token: 't-1' },
    });
    assert.equal(r.statusCode, 200);
    assert.deepEqual(r.json(), { samples: [{ at: '2026-11-30T10:00:00.000Z', rss_kib: 1024 }] });
    assert.equal(seen[0]?.url, '/stats/vms/ws1/vm1/?minutes=5');
    assert.equal(seen[0]?.headers.token, 't-1');
  } finally {
    monitoring.close();
  }
});

test('monitoring not answering is a 503 "no data yet", logged as one warning, not as a failure', async () => {
  const { app, lines } = await inventoryWith(`http://127.0.0.1:${await freePort()}`);
  const r = await app.inject({ method: 'GET', url: '/api/stats/hosts/', headers: { token: 't-1' } });
  assert.equal(r.statusCode, 503);
  assert.match(r.json<{ error: string }>().error, /^no data yet: /);
  const logged = lines.map((l) => JSON.parse(l) as { level: number; msg: string; err?: { stack?: string } });
  assert.deepEqual(
    logged.filter((l) => l.level >= 50 || l.err?.stack),
    [],
    'no error line, no stack',
  );
  assert.ok(
    logged.some((l) => l.level === 40 && /monitoring unreachable/.test(l.msg)),
    'one warning says why',
  );
});
