// Issue 9 "Chaos": a burst of 30 VM creates and deletes across two lab hosts while the harness SIGKILLs
// random service processes (each at least once) and restarts RabbitMQ, PostgreSQL and Redis once each.
// Afterwards every task is successful or rolled back, nothing is orphaned, nothing duplicated, nothing stuck.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { LabStatus } from '../../src/lab/index.ts';
import { run } from '../../src/lib/exec.ts';
import { callJson } from '../support/http.ts';
import { createOvsSwitch } from '../../src/network/ovs.ts';
import { devFor } from '../../src/compute/domain.ts';
import { createSshShell } from '../../src/lib/ssh.ts';
import { isAlive, startCluster, type Cluster } from '../support/cluster.ts';
import { uniqueName } from '../support/env.ts';
import { ensureLab, labConfig, labDomains, registerTestLab, vmDirExists } from '../support/lab.ts';

const VMS = 15; // 15 creates + 15 deletes
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('chaos', () => {
  let lab: LabStatus;
  let cluster: Cluster;
  let token = '';
  const ws = uniqueName('chaos');
  const net = 'chaos-net';

  const controller = (i: number) => cluster.controllerUrls[i % cluster.controllerUrls.length];
  /** A request retried through outages: 5xx and unreachable are retried; the answer is the first other one. */
  const persist = async (method: string, url: string, body?: unknown) => {
    for (let i = 0; ; i++) {
      const a = await callJson(method, url, { token, body, retries: 0, timeout: 15 }).catch(() => ({
        status: 0,
        body: undefined,
      }));
      if (a.status !== 0 && a.status < 500 && a.status !== 401) return a;
      if (i > 120) throw new Error(`${method} ${url} kept failing: ${a.status}`);
      await sleep(1000);
    }
  };
  const login = async () => {
    const a = await persist('POST', `${cluster.inventoryUrl}/login/`, {
      username: 'chaos-user',
      password: 'chaos-user-password',
    });
    token = a.body.token;
  };
  const tasks = async () =>
    (await persist('GET', `${controller(0)}/tasks/${ws}/?limit=1000`)).body.tasks as any[];

  before(async () => {
    lab = await ensureLab(2);
    const labEnv = Object.fromEntries(Object.entries(labConfig(lab)).map(([k, v]) => [`KLOUDAK_${k}`, v]));
    cluster = await startCluster(
      { notification: 2, controller: 2, compute: 2, network: 2, monitoring: 2 },
      labEnv,
    );
    const admin = (
      await callJson('POST', `${cluster.inventoryUrl}/login/`, {
        body: { username: 'admin', password: cluster.adminPassword },
      })
    ).body.token;
    await registerTestLab(lab, cluster.inventoryUrl, admin);
    await callJson('POST', `${cluster.inventoryUrl}/signup/`, {
      body: { username: 'chaos-user', password: 'chaos-user-password', email: 'c@example.test' },
    });
    await login();
    await persist('POST', `${cluster.inventoryUrl}/workspaces/`, { name: ws });
    await login();
    const n = await persist('POST', `${controller(0)}/networks/`, {
      owner: ws,
      name: net,
      subnet: '10.60.0.0/24',
    });
    await persist('GET', `${controller(0)}/task/${n.body.task_id}/?wait=60`);
  });
  let passed = false;
  after(async () => {
    // A failed run names its stuck task; each process's last lines say where it stopped.
    if (!passed && cluster) process.stdout.write(`chaos: the services' last output\n${cluster.logs(6000)}\n`);
    await cluster?.stop();
  });

  test('a burst of creates and deletes through kills and middleware restarts leaves a clean platform', async () => {
    const killed = new Set<string>();
    let burstDone = false;
    const chaos = (async () => {
      const services = ['inventory', 'controller', 'notification', 'compute', 'network', 'monitoring'];
      const middleware: [string, string[]][] = [
        ['rabbitmq', ['service', 'rabbitmq-server', 'restart']],
        ['postgresql', ['pg_ctlcluster', '15', 'main', 'restart']],
        ['redis', ['service', 'redis-server', 'restart']],
      ];
      let step = 0;
      while (!burstDone || killed.size < services.length || middleware.length) {
        await sleep(3000);
        if (step % 3 === 2 && middleware.length) {
          const [name, cmd] = middleware.shift()!;
          await run(cmd[0], cmd.slice(1), { timeoutMs: 180_000 }).catch((e) =>
            process.stderr.write(`restart ${name}: ${String(e)}\n`),
          );
          killed.add(name);
        } else {
          const pending = services.filter((s) => !killed.has(s));
          const service = pending.length ? pending[0] : services[Math.floor(Math.random() * services.length)];
          const live = cluster.procs.filter((p) => p.service === service && isAlive(p));
          const victim = live[Math.floor(Math.random() * live.length)];
          if (victim) {
            await cluster.kill(victim);
            killed.add(service);
          }
        }
        // Like systemd (Restart=always): whatever died, by our hand or because a restart found PostgreSQL
        // down, is started again.
        await cluster.revive();
        step++;
      }
    })();

    const results: { name: string; create?: string; remove?: string }[] = [];
    const one = async (i: number) => {
      const name = `cvm-${i}`;
      const r: (typeof results)[number] = { name };
      results.push(r);
      const c = await persist('POST', `${controller(i)}/vms/`, {
        owner: ws,
        name,
        area: 'lab',
        template: 'kloudak-test',
        password: 'pw',
        networks: [net],
      });
      if (c.status === 202) r.create = c.body.task_id;
      else if (c.status === 409)
        r.create = (await tasks()).find((t) => t.object === name && t.method === 'POST')?.task_id;
      else assert.fail(`create ${name}: ${c.status} ${JSON.stringify(c.body)}`);
      const t = await persist('GET', `${controller(i + 1)}/task/${r.create}/?wait=120`);
      if (t.body.status !== 'successful') return;
      for (;;) {
        const d = await persist('DELETE', `${controller(i)}/vms/`, { owner: ws, name });
        if (d.status === 202) {
          r.remove = d.body.task_id;
          break;
        }
        if (d.status === 404) break;
        await sleep(1000); // 409: the create is still finishing
      }
    };
    try {
      for (let wave = 0; wave < VMS; wave += 5)
        await Promise.all(Array.from({ length: Math.min(5, VMS - wave) }, (_, k) => one(wave + k)));
    } finally {
      burstDone = true;
      await chaos;
    }
    for (let i = 0; i < 5; i++) {
      await cluster.revive();
      await sleep(2000);
    }

    // Nothing stuck: every task ends.
    const deadline = Date.now() + 300_000;
    let all = await tasks();
    while (
      all.some((t) => !['successful', 'rolled_back', 'failed'].includes(t.status)) &&
      Date.now() < deadline
    ) {
      await sleep(2000);
      all = await tasks();
    }
    const counts: Record<string, number> = {};
    for (const t of all) counts[t.status] = (counts[t.status] ?? 0) + 1;
    process.stdout.write(
      `chaos: killed/restarted ${[...killed].join(', ')}; tasks ${JSON.stringify(counts)}\n`,
    );
    assert.deepEqual(
      all
        .filter((t) => !['successful', 'rolled_back'].includes(t.status))
        .map((t) => `${t.method} ${t.object}: ${t.status} ${t.error}`),
      [],
    );

    // Deleting what remains (creates whose delete never ran) leaves the workspace empty.
    for (const v of (await persist('GET', `${cluster.inventoryUrl}/${ws}/vms/`)).body.vms as {
      name: string;
    }[]) {
      const d = await persist('DELETE', `${controller(0)}/vms/`, { owner: ws, name: v.name });
      if (d.status === 202) await persist('GET', `${controller(0)}/task/${d.body.task_id}/?wait=120`);
    }
    assert.deepEqual(
      (await persist('GET', `${cluster.inventoryUrl}/${ws}/vms/`)).body.vms,
      [],
      'no VM record left',
    );

    const taskIds = all.filter((t) => t.type === 'vm' && t.method === 'POST').map((t) => t.task_id as string);
    const domains = [...(await labDomains(lab)).values()].flat();
    const orphanDomains = domains.filter((d) => taskIds.some((id) => d === `kloudak-${id}`));
    const orphanDirs = taskIds.filter((id) => vmDirExists(lab, id));
    const vlan = (await persist('GET', `${cluster.inventoryUrl}/${ws}/networks/${net}/`)).body.vlan as number;
    const ovs = createOvsSwitch(
      createSshShell({ user: 'root', key: lab.ssh.key, knownHosts: lab.ssh.knownHosts }),
    );
    // Only this run's ports: the lab is shared, and a killed earlier run may have left its own behind.
    const ourPrefixes = taskIds.map((id) => devFor(id, 0).slice(0, -1));
    const ports = (await Promise.all(lab.hosts.map((h) => ovs.listPorts(h.ip, 'private-br'))))
      .flat()
      .filter((p) => p.tag === vlan && ourPrefixes.some((prefix) => p.name.startsWith(prefix)));
    // Every address of the area can be handed out again except those other VMs hold: ours all came back.
    const admin = (
      await persist('POST', `${cluster.inventoryUrl}/login/`, {
        username: 'admin',
        password: cluster.adminPassword,
      })
    ).body.token;
    const mine = new Set(results.map((r) => r.name));
    process.stdout.write(
      `chaos: ${results.length} VMs, ${results.filter((r) => r.create).length} creates, ${results.filter((r) => r.remove).length} deletes; orphans: ${orphanDomains.length} domains, ${orphanDirs.length} dirs, ${ports.length} ports\n`,
    );
    assert.deepEqual(orphanDomains, [], 'no orphan domain');
    assert.deepEqual(orphanDirs, [], 'no orphan disk or seed');
    assert.deepEqual(ports, [], 'no orphan OVS port');
    assert.equal(mine.size, results.length, 'no duplicate VM');
    // A rolled-back create's ports go by a follow-up to the network service that its task does not wait
    // for (compute's undoCreate): a network delete right after may find one still there and roll back. The
    // promise is that they go: a later delete succeeds.
    let dt: { status?: string; error?: string } = {};
    for (let attempt = 0; attempt < 4 && dt.status !== 'successful'; attempt++) {
      if (attempt) await sleep(5000);
      const dn = await persist('DELETE', `${controller(0)}/networks/`, { owner: ws, name: net });
      assert.equal(dn.status, 202, JSON.stringify(dn.body));
      dt = (await persist('GET', `${controller(0)}/task/${dn.body.task_id}/?wait=60`)).body;
      if (dt.status !== 'successful')
        process.stdout.write(`chaos: network delete ${attempt + 1}: ${dt.error}\n`);
    }
    assert.equal(dt.status, 'successful', `the VLAN is released: ${JSON.stringify(dt)}`);
    // No address leaked: this deployment's inventory holds no other VM, so the whole area can be handed out.
    const handed: string[] = [];
    for (;;) {
      const a = await callJson('GET', `${cluster.inventoryUrl}/address/lab/get_ip/`, { token: admin });
      if (a.status !== 200) break;
      handed.push(a.body.ip);
    }
    for (const ip of handed)
      await callJson('DELETE', `${cluster.inventoryUrl}/address/lab/${ip}/`, { token: admin });
    process.stdout.write(`chaos: ${handed.length} of 253 area addresses free afterwards\n`);
    assert.equal(handed.length, 253, 'no orphan IP');
    passed = true;
  });
});
