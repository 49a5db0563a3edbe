// Issue 5 "Must show", on a lab of two hosts with real guests: VLAN isolation, a router between networks,
// delete rules, and 100 networks with 100 distinct VLANs. Issue 12: TCP, not only ping, in every direction:
// machine -> guest, guest -> machine, guest -> guest on one host, across hosts and through a router.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer } from 'node:net';
import { createCompute, type Compute } from '../../src/compute/service.ts';
import { createNetworkService, type NetworkService } from '../../src/network/service.ts';
import { createOvsSwitch } from '../../src/network/ovs.ts';
import { removeRouter } from '../../src/network/tasks.ts';
import { createSshShell } from '../../src/lib/ssh.ts';
import { createLogger } from '../../src/lib/log.ts';
import type { LabStatus } from '../../src/lab/index.ts';
import { uniqueName } from '../support/env.ts';
import { openDefaultGroup } from '../support/tenants.ts';
import {
  clearPortSecurity,
  destroyComputeVms,
  ensureLab,
  labConfig,
  removeLeftoverRouters,
  readConsole,
  registerTestLab,
} from '../support/lab.ts';
import { startPlatform, until, type TestPlatform, succeeds } from '../support/platform.ts';

const log = () => createLogger('test', process.env.KLOUDAK_TEST_LOG ?? 'silent');

/** A guest's runcmd that serves `token` over HTTP on port 8080 (busybox httpd), on every address it has. */
const serve = (token: string) => `mkdir -p /www && echo ${token} >/www/index.html && httpd -p 8080 -h /www`;
/** A guest's runcmd that fetches ip:8080 over TCP and exits 0 only when the answer holds `token`. */
const fetchToken = (ip: string, token: string) =>
  `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 ${ip} 8080 | grep -q ${token}`;

/** What the machine reads from ip:port over TCP (it sends an HTTP request first). */
function machineFetch(ip: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: ip, port, timeout: 10_000 });
    let body = '';
    s.on('connect', () => s.write('GET / HTTP/1.0\r\n\r\n'));
    s.on('data', (d) => (body += String(d)));
    s.on('end', () => resolve(body));
    s.on('timeout', () => s.destroy(new Error(`TCP to ${ip}:${port} timed out`)));
    s.on('error', reject);
  });
}

describe('networks on a lab of two hosts', () => {
  let lab: LabStatus;
  let p: TestPlatform;
  let compute: Compute;
  let network: NetworkService;
  let ws: string;
  let token: string;

  before(async () => {
    lab = await ensureLab(2);
    await removeLeftoverRouters(lab);
    p = await startPlatform('pglite', 'memory', labConfig(lab));
    const config = p.serviceConfig({ RECONCILE_INTERVAL: '3600' });
    compute = await createCompute({ config, log: log(), bus: p.bus });
    network = await createNetworkService({ config, log: log(), bus: p.bus });
    await registerTestLab(lab, p.inv.url, await p.inv.adminToken());
    ws = uniqueName('ws');
    const user = uniqueName('u');
    await p.inv.user(user);
    await p.inv.call('POST', '/workspaces/', await p.inv.login(user), { name: ws });
    token = await p.inv.login(user);
    await openDefaultGroup(p, ws, token);
  });
  after(async () => {
    if (network)
      for (const r of await network.ctx.db.selectFrom('routers').selectAll().execute())
        await removeRouter(network.ctx, r.workspace, r.name).catch(() => undefined);
    await network?.close();
    if (compute) await destroyComputeVms(compute);
    await compute?.close();
    if (lab) await clearPortSecurity(lab);
    await p?.close();
  });

  const finish = async (r: { status: number; body: any }) => {
    await succeeds(p, r, token, 90);
    return r.body;
  };
  const vm = async (name: string, networks: string[], runcmd: string[] = []) => {
    const a = await finish(
      await p.call('POST', '/vms/', token, {
        name,
        owner: ws,
        area: 'lab',
        template: 'kloudak-test',
        password: 'pw',
        networks,
        runcmd,
      }),
    );
    const rec = (await p.inv.call('GET', `/${ws}/vms/${name}/`, token)).body;
    return {
      task: a.task_id as string,
      ip: a.ip as string,
      host: rec.host as string,
      nic: String(rec.interfaces[0]?.ip ?? '').split('/')[0],
    };
  };
  const up = (task: string, name: string, ip: string) =>
    until(
      `${name} up`,
      () => readConsole(lab, task).includes(`kloudak-guest up ${name} ${ip}`) || undefined,
      120_000,
      500,
    );

  test('isolation by VLAN, routing through a router, and the delete rules', async () => {
    const n1 = uniqueName('n1');
    const n2 = uniqueName('n2');
    await finish(await p.call('POST', '/networks/', token, { owner: ws, name: n1, subnet: '10.50.1.0/24' }));
    await finish(await p.call('POST', '/networks/', token, { owner: ws, name: n2, subnet: '10.50.2.0/24' }));
    const vlan1 = (await p.inv.call('GET', `/${ws}/networks/${n1}/`, token)).body.vlan as number;
    assert.ok(vlan1 >= 1 && vlan1 <= 4094);
    const router = uniqueName('r');
    await finish(await p.call('POST', '/routers/', token, { owner: ws, name: router }));
    await finish(
      await p.call('POST', '/interfaces/', token, { owner: ws, router, network: n1, ip: '10.50.1.1' }),
    );
    await finish(
      await p.call('POST', '/interfaces/', token, { owner: ws, router, network: n2, ip: '10.50.2.1' }),
    );
    const bad = await p.call('POST', '/interfaces/', token, {
      owner: ws,
      router,
      network: n2,
      ip: '10.99.0.1',
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.field, 'ip');

    // A server on the lab's public gateway (this machine's side of the public bridge), for guest -> machine.
    const fromGuests: string[] = [];
    const machine = createServer((c) => c.on('data', (d) => fromGuests.push(String(d).trim())));
    await new Promise<void>((r) => machine.listen(0, lab.network.publicGateway, r));
    const machinePort = (machine.address() as { port: number }).port;
    try {
      // Placement takes the host with the most free memory (ties by name): C on h1, B on h2, A on h1. So A
      // reaches B across hosts, and A and C share a host and its bridge but not a VLAN.
      const c = await vm('guest-c', [n2], ['ip route add 10.50.1.0/24 via 10.50.2.1', serve('token-c')]);
      const b = await vm('guest-b', [n1], [serve('token-b')]);
      await up(c.task, 'guest-c', c.ip);
      await up(b.task, 'guest-b', b.ip);
      // Machine -> guest, on both hosts.
      assert.match(await machineFetch(b.ip, 8080), /token-b/, 'the machine fetches from B over TCP');
      assert.match(await machineFetch(c.ip, 8080), /token-c/, 'the machine fetches from C over TCP');
      const steps: [string, string][] = [
        ['ping B across hosts on N1', `ping -c 3 -W 2 ${b.nic}`],
        ['TCP to B across hosts on N1', fetchToken(b.nic, 'token-b')],
        // An address in N2's subnet on A's N1 NIC: its ARP for C goes out on N1's VLAN and nobody answers.
        ['ping C on N2 (isolated)', `ip addr add 10.50.2.250/24 dev eth1; ping -c 3 -W 2 ${c.nic}`],
        ['TCP to C on N2 (isolated)', fetchToken(c.nic, 'token-c')],
        [
          'ping C through the router',
          `ip addr del 10.50.2.250/24 dev eth1; ip route add 10.50.2.0/24 via 10.50.1.1; ping -c 3 -W 2 ${c.nic}`,
        ],
        ['TCP to C through the router', fetchToken(c.nic, 'token-c')],
        ['TCP to C on one host (public)', fetchToken(c.ip, 'token-c')],
        ['TCP to the machine', `echo from-guest-a | nc -w 10 ${lab.network.publicGateway} ${machinePort}`],
      ];
      const a = await vm(
        'guest-a',
        [n1],
        steps.map(([, cmd]) => cmd),
      );
      assert.notEqual(a.host, b.host, 'A and B on different hosts');
      assert.equal(a.host, c.host, 'A and C on one host');
      const out = await until(
        'A to finish its pings and connections',
        () => {
          const text = readConsole(lab, a.task);
          return text.includes(`kloudak-guest up guest-a ${a.ip}`) ? text : undefined;
        },
        150_000,
        500,
      );
      const exit = (what: string) => {
        const n = steps.findIndex(([w]) => w === what) + 1;
        return new RegExp(`runcmd ${n} exit (\\d+)`).exec(out)?.[1];
      };
      for (const [what] of steps) {
        if (what.endsWith('(isolated)')) assert.notEqual(exit(what), '0', `A: ${what} must fail`);
        else assert.equal(exit(what), '0', `A: ${what}\n${out}`);
      }
      assert.deepEqual(fromGuests, ['from-guest-a'], "the machine got A's line over TCP");
    } finally {
      machine.close();
    }

    const refused = await p.call('DELETE', '/networks/', token, { owner: ws, name: n1 });
    assert.equal(refused.status, 409);
    for (const name of ['guest-a', 'guest-b', 'guest-c'])
      await finish(await p.call('DELETE', '/vms/', token, { owner: ws, name }));
    await finish(await p.call('DELETE', '/interfaces/', token, { owner: ws, router, network: n1 }));
    await finish(await p.call('DELETE', '/networks/', token, { owner: ws, name: n1 }));
    const left = await network.ctx.db
      .selectFrom('networks')
      .select('vlan')
      .where('vlan', '=', vlan1)
      .execute();
    assert.deepEqual(left, [], 'the VLAN is free again');
    const ovs = createOvsSwitch(
      createSshShell({ user: 'root', key: lab.ssh.key, knownHosts: lab.ssh.knownHosts }),
    );
    for (const h of lab.hosts) {
      const tagged = (await ovs.listPorts(h.ip, 'private-br')).filter((x) => x.tag === vlan1);
      assert.deepEqual(tagged, [], `no port of VLAN ${vlan1} on ${h.name}`);
    }
    await finish(await p.call('DELETE', '/interfaces/', token, { owner: ws, router, network: n2 }));
    await finish(await p.call('DELETE', '/routers/', token, { owner: ws, name: router }));
  });

  test('100 networks created at once get 100 distinct VLANs', async () => {
    // 100 more than the workspace holds: past the default network quota (100, issue 17), which an admin lifts.
    const admin = await p.inv.adminToken();
    const q = await p.inv.call('PUT', `/workspaces/${ws}/quotas/`, admin, { networks: 200 });
    assert.equal(q.status, 200, JSON.stringify(q.body));
    const names = Array.from({ length: 100 }, (_, i) => `bulk-${i}`);
    const accepted = await Promise.all(
      names.map((name) => p.call('POST', '/networks/', token, { owner: ws, name })),
    );
    for (const r of accepted) assert.equal(r.status, 202);
    for (const r of accepted) {
      const t = await p.call('GET', `/task/${r.body.task_id}/?wait=60`, token);
      assert.equal(t.body.status, 'successful', JSON.stringify(t.body));
    }
    const { networks } = (await p.inv.call('GET', `/${ws}/networks/?limit=1000`, token)).body;
    const vlans = networks.filter((n: any) => n.name.startsWith('bulk-')).map((n: any) => n.vlan);
    assert.equal(vlans.length, 100);
    assert.equal(new Set(vlans).size, 100);
    assert.ok(vlans.every((v: number) => Number.isInteger(v) && v >= 1 && v <= 4094));
  });
});
