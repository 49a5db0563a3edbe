// Load (issue 9): 200 concurrent users listing and creating objects for 60 s against the distributed
// deployment (every service its own process, PostgreSQL, RabbitMQ, Redis). Records the error rate and
// p50/p99 latency per kind of request. Usage: npx tsx bench/load.ts [users] [seconds]
import { callJson } from '../test/support/http.ts';
import { startCluster } from '../test/support/cluster.ts';
import { uniqueName } from '../test/support/env.ts';

const USERS = Number(process.argv[2] ?? 200);
const SECONDS = Number(process.argv[3] ?? 60);

const cluster = await startCluster({ notification: 2, controller: 2, network: 2 });
const out = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);
try {
  const inv = cluster.inventoryUrl;
  // Users sign up and log in before the clock starts: scrypt is meant to be slow.
  const users = [];
  for (let i = 0; i < USERS; i += 20) {
    users.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(20, USERS - i) }, async () => {
          const name = uniqueName('load');
          await callJson('POST', `${inv}/signup/`, {
            body: { username: name, password: `${name}-pw`, email: `${name}@load.test` },
          });
          let token = (
            await callJson('POST', `${inv}/login/`, { body: { username: name, password: `${name}-pw` } })
          ).body.token as string;
          await callJson('POST', `${inv}/workspaces/`, { token, body: { name } });
          token = (
            await callJson('POST', `${inv}/login/`, { body: { username: name, password: `${name}-pw` } })
          ).body.token as string;
          return { name, token };
        }),
      )),
    );
  }
  // Errors by status (0: no answer), so a bad error rate says where it comes from.
  const samples = new Map<string, { ms: number[]; errors: number; statuses: Record<number, number> }>();
  const record = (kind: string, ms: number, status: number, ok: boolean) => {
    const s = samples.get(kind) ?? { ms: [], errors: 0, statuses: {} };
    s.ms.push(ms);
    if (!ok) {
      s.errors++;
      s.statuses[status] = (s.statuses[status] ?? 0) + 1;
    }
    samples.set(kind, s);
  };
  const timed = async (kind: string, f: () => Promise<{ status: number }>, okStatus: number[]) => {
    const t = performance.now();
    const r = await f().catch(() => ({ status: 0 }));
    record(kind, performance.now() - t, r.status, okStatus.includes(r.status));
    return r;
  };
  const deadline = Date.now() + SECONDS * 1000;
  await Promise.all(
    users.map(async (u, i) => {
      const controller = cluster.controllerUrls[i % cluster.controllerUrls.length];
      let n = 0;
      while (Date.now() < deadline) {
        await timed(
          'list vms',
          () => callJson('GET', `${inv}/${u.name}/vms/`, { token: u.token, retries: 0 }),
          [200],
        );
        await timed(
          'list networks',
          () => callJson('GET', `${inv}/${u.name}/networks/`, { token: u.token, retries: 0 }),
          [200],
        );
        const name = `net-${n++}`;
        await timed(
          'create network',
          () =>
            callJson('POST', `${controller}/networks/`, { token: u.token, body: { owner: u.name, name } }),
          [202],
        );
        await timed(
          'list tasks',
          () => callJson('GET', `${controller}/tasks/${u.name}/?limit=20`, { token: u.token, retries: 0 }),
          [200],
        );
      }
    }),
  );
  const pct = (xs: number[], p: number) =>
    [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? 0;
  let total = 0;
  let errors = 0;
  for (const [kind, s] of samples) {
    total += s.ms.length;
    errors += s.errors;
    out({
      figure: `load ${kind}: p99 latency`,
      kloudak: Number(pct(s.ms, 99).toFixed(1)),
      unit: 'ms',
      p50: Number(pct(s.ms, 50).toFixed(1)),
      requests: s.ms.length,
      errors: s.errors,
      error_statuses: s.statuses,
    });
  }
  out({
    figure: `load: ${USERS} users for ${SECONDS} s, requests per second`,
    kloudak: Number((total / SECONDS).toFixed(1)),
    unit: 'req/s',
  });
  out({
    figure: 'load: error rate',
    kloudak: Number(((100 * errors) / Math.max(total, 1)).toFixed(3)),
    unit: '%',
  });
} finally {
  await cluster.stop();
}
process.exit(0);
