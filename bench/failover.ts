// Failover time on the lab of two hosts (issue 6), the flow of test/system/failover.test.ts: two guests on host
// 1, host 1 cut off its networks (labCutHost), the lab's fence agent as FENCE_COMMAND. Measures from the cut to
// both guests' up line on host 2, split into detection (cut -> monitoring marks the host down after
// HOST_FAILURE_CHECKS failed checks), restart (-> compute has both domains started on host 2) and boot (-> both
// guests print their up line). Settings: MONITOR_INTERVAL 2 s, HOST_FAILURE_CHECKS 3.
// Run: npx tsx bench/failover.ts   (~2-3 min; uses the shared lab, restores the host it cuts)
import { join } from 'node:path';
import { createCompute } from '../src/compute/service.ts';
import { labCutHost, labRestoreHost, labUp } from '../src/lab/index.ts';
import { createLogger } from '../src/lib/log.ts';
import { createMonitoring } from '../src/monitoring/service.ts';
import { createNetworkService } from '../src/network/service.ts';
import { uniqueName } from '../test/support/env.ts';
import {
  clearPortSecurity,
  destroyComputeVms,
  ensureLab,
  LAB_DIR,
  labConfig,
  readConsole,
  registerTestLab,
} from '../test/support/lab.ts';
import { startPlatform, until } from '../test/support/platform.ts';
import { benchMain, emit, note, onCleanup, round } from './support.ts';

const log = (n: string) => createLogger(n, process.env.KLOUDAK_TEST_LOG ?? 'silent');
const INTERVAL = 2;
const CHECKS = 3;

await benchMain(async () => {
  let lab = await ensureLab(2);
  if (!lab.hosts.every((h) => h.pids.virtlockd)) lab = await labUp({ hosts: 2, stateDir: LAB_DIR });
  const [h1, h2] = lab.hosts as [(typeof lab.hosts)[0], (typeof lab.hosts)[0]];
  const p = await startPlatform('pglite', 'memory', { ...labConfig(lab), RETRIES: '0' });
  onCleanup('platform', () => p.close());
  const config = p.serviceConfig({
    RECONCILE_INTERVAL: '3600',
    MONITOR_INTERVAL: String(INTERVAL),
    MONITOR_CHECK_TIMEOUT: '20',
    HOST_FAILURE_CHECKS: String(CHECKS),
    FENCE_COMMAND: `${process.execPath} ${join(process.cwd(), 'bin', 'kloudak.js')} lab fence`,
  });
  const compute = await createCompute({ config, log: log('compute'), bus: p.bus });
  onCleanup('compute', () => compute.close());
  // The moved VMs' public ports get their rules on the new host from the network service.
  const network = await createNetworkService({ config, log: log('network'), bus: p.bus });
  onCleanup('network', async () => {
    await network.close();
    await clearPortSecurity(lab);
  });
  onCleanup('compute VMs', () => destroyComputeVms(compute));
  const monitoring = await createMonitoring({ config, log: log('monitoring'), bus: p.bus });
  onCleanup('monitoring', () => monitoring.close());
  const mdb = monitoring.database.db;
  const seen = (host: string) =>
    until(
      `monitoring to check ${host}`,
      async () =>
        (await mdb.selectFrom('hosts').select('seen_at').where('name', '=', host).executeTakeFirst())
          ?.seen_at ?? undefined,
      60_000,
      200,
    );

  const admin = await p.inv.adminToken();
  const ws = uniqueName('ws');
  const user = uniqueName('u');
  await p.inv.user(user);
  await p.inv.call('POST', '/workspaces/', await p.inv.login(user), { name: ws });
  const token = await p.inv.login(user);
  await registerTestLab({ ...lab, hosts: [h1] }, p.inv.url, admin);
  await seen(h1.name);

  note('failover bench: two guests on host 1');
  const names = [uniqueName('fa'), uniqueName('fb')];
  const guests = await Promise.all(
    names.map(async (name) => {
      const r = await p.call('POST', '/vms/', token, {
        name,
        owner: ws,
        area: 'lab',
        template: 'kloudak-test',
        password: 'pw',
      });
      if (r.status !== 202) throw new Error(JSON.stringify(r.body));
      const t = await p.call('GET', `/task/${r.body.task_id}/?wait=180`, token);
      if (t.body.status !== 'successful') throw new Error(JSON.stringify(t.body));
      return {
        name,
        task: r.body.task_id as string,
        ip: r.body.ip as string,
        domain: `kloudak-${r.body.task_id}`,
      };
    }),
  );
  for (const g of guests)
    await until(
      `${g.name} up`,
      () => readConsole(lab, g.task).includes(`kloudak-guest up ${g.name} ${g.ip}`) || undefined,
      180_000,
      500,
    );
  await registerTestLab(lab, p.inv.url, admin);
  await seen(h2.name);

  note('failover bench: cutting host 1');
  const cutAt = Date.now();
  onCleanup('restore host 1', () => labRestoreHost(LAB_DIR, h1.name));
  await labCutHost(LAB_DIR, h1.name);
  let detectedAt = 0;
  let restartedAt = 0;
  let upAt = 0;
  try {
    await until(
      'failover',
      async () => {
        if (
          !detectedAt &&
          (await mdb.selectFrom('hosts').select('up').where('name', '=', h1.name).executeTakeFirst())?.up ===
            false
        )
          detectedAt = Date.now();
        if (!restartedAt) {
          const rows = await compute.ctx.db
            .selectFrom('vms')
            .select(['host', 'state'])
            .where(
              'domain',
              'in',
              guests.map((g) => g.domain),
            )
            .execute();
          if (rows.length === guests.length && rows.every((r) => r.host === h2.name && r.state === 'running'))
            restartedAt = Date.now();
        }
        const up = guests.every((g) => {
          const c = readConsole(lab, g.task);
          return c.includes('disk vda boots=2') && c.includes(`kloudak-guest up ${g.name} ${g.ip}`);
        });
        if (up) upAt = Date.now();
        return up ? true : undefined;
      },
      180_000,
      100,
    );
  } finally {
    await labRestoreHost(LAB_DIR, h1.name);
  }
  const s = (ms: number) => round(ms / 1000, 1);
  emit({
    figure: 'failover: host cut to both guests up on the other host',
    kloudak: s(upAt - cutAt),
    baseline: null,
    unit: 's',
    detection: s(detectedAt - cutAt),
    restart: s(restartedAt - detectedAt),
    boot: s(upAt - restartedAt),
  });
  emit({
    figure: `failover: detection (${CHECKS} checks, ${INTERVAL} s interval)`,
    kloudak: s(detectedAt - cutAt),
    baseline: CHECKS * INTERVAL,
    unit: 's',
  });
  for (const g of guests) await p.call('DELETE', '/vms/', token, { owner: ws, name: g.name });
});
