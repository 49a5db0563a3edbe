// Issue 17 item 1 "Must show", with two real guests on the lab's two hosts, each with a public NIC and a NIC
// on one private network (both NICs belong to the VM's groups):
// - B is in group `gb` that lets in only ICMP from members of A's group `ga`: A pings B, A cannot open TCP to
//   B's listener, the machine (the lab's gateway, in no group of the workspace) cannot even ping B;
// - the rules are stateful: B reaches the gateway (egress) and the replies come back in, though B's ingress
//   lets nothing in from the gateway;
// - a rule for the TCP port added through the controller opens it on the running guests within seconds,
//   removing it closes it again.
// A prints a probe line every second or two (ping and TCP to B's public and private addresses), B one every two seconds (ping to the gateway): the
// test reads their consoles.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createCompute, type Compute } from '../../src/compute/service.ts';
import { createNetworkService, type NetworkService } from '../../src/network/service.ts';
import { run } from '../../src/lib/exec.ts';
import { createLogger } from '../../src/lib/log.ts';
import type { LabStatus } from '../../src/lab/index.ts';
import { uniqueName } from '../support/env.ts';
import {
  clearPortSecurity,
  destroyComputeVms,
  ensureLab,
  labConfig,
  readConsole,
  registerTestLab,
} from '../support/lab.ts';
import { startPlatform, until, type TestPlatform, succeeds } from '../support/platform.ts';

const log = () => createLogger('test', process.env.KLOUDAK_TEST_LOG ?? 'silent');
const PORT = 7777;

describe('security groups on real guests', () => {
  let lab: LabStatus;
  let p: TestPlatform;
  let compute: Compute;
  let network: NetworkService;
  let ws: string;
  let token: string;

  before(async () => {
    lab = await ensureLab(2);
    p = await startPlatform('pglite', 'memory', labConfig(lab));
    // No probe source on the lab's networks (loopback sends nothing there): the gateway's pings must not
    // reach B unless a rule lets them.
    const config = p.serviceConfig({ RECONCILE_INTERVAL: '3600', SG_PROBE_SOURCES: '127.0.0.1' });
    compute = await createCompute({ config, log: log(), bus: p.bus });
    network = await createNetworkService({ config, log: log(), bus: p.bus });
    await registerTestLab(lab, p.inv.url, await p.inv.adminToken());
    ws = uniqueName('ws');
    const user = uniqueName('u');
    await p.inv.user(user);
    await p.inv.call('POST', '/workspaces/', await p.inv.login(user), { name: ws });
    token = await p.inv.login(user);
  });
  after(async () => {
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
  const vm = async (name: string, groups: string[], networks: string[], runcmd: string[]) => {
    const a = await finish(
      await p.call('POST', '/vms/', token, {
        name,
        owner: ws,
        area: 'lab',
        template: 'kloudak-test',
        password: 'pw',
        security_groups: groups,
        networks,
        runcmd,
      }),
    );
    const rec = (await p.inv.call('GET', `/${ws}/vms/${name}/`, token)).body;
    assert.deepEqual(rec.security_groups, groups);
    return {
      task: a.task_id as string,
      ip: a.ip as string,
      host: rec.host as string,
      nic: String(rec.interfaces[0]?.ip ?? '').split('/')[0],
    };
  };
  const rootPing = (ip: string) =>
    run('busybox', ['ping', '-c', '2', '-W', '2', ip]).then(
      () => true,
      () => false,
    );

  const icmpFromA = { direction: 'ingress', protocol: 'icmp', remote_group: 'ga' };
  const tcpFromA = {
    direction: 'ingress',
    protocol: 'tcp',
    port_min: PORT,
    port_max: PORT,
    remote_group: 'ga',
  };
  const allEgress = { direction: 'egress', protocol: 'any', remote_cidr: '0.0.0.0/0' };

  test('ICMP only from A; stateful replies; a TCP rule opens and closes the port on the running guests', async () => {
    await finish(
      await p.call('POST', '/security_groups/', token, { owner: ws, name: 'ga', rules: [allEgress] }),
    );
    const bad = await p.call('POST', '/security_groups/', token, {
      owner: ws,
      name: 'gx',
      rules: [{ direction: 'ingress', protocol: 'icmp', port_min: 1 }],
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.field, 'rules.0.port_min');
    await finish(
      await p.call('POST', '/security_groups/', token, {
        owner: ws,
        name: 'gb',
        rules: [allEgress, icmpFromA],
      }),
    );
    const net = uniqueName('n');
    await finish(await p.call('POST', '/networks/', token, { owner: ws, name: net, subnet: '10.57.1.0/24' }));
    const gw = lab.network.publicGateway;
    const b = await vm(
      'sg-b',
      ['gb'],
      [net],
      [
        `kloudak-listen ${PORT} hello-from-b`,
        `(while :; do ping -c 1 -W 1 ${gw} >/dev/null 2>&1 && r=ok || r=no; echo "b-probe gw=$r"; sleep 2; done) &`,
      ],
    );
    // A probes B's public address and its address on the private network: ping, then TCP.
    const probe = (ip: string, tag: string) =>
      `ping -c 1 -W 1 ${ip} >/dev/null 2>&1 && r=ok || r=no; t=$(nc -w 1 ${ip} ${PORT} </dev/null 2>/dev/null | head -n 1); echo "a-probe ${tag} ping=$r tcp=\${t:-none}"`;
    const a = await vm(
      'sg-a',
      ['ga'],
      [net],
      [`(while :; do ${probe(b.ip, 'pub')}; ${probe(b.nic, 'priv')}; sleep 1; done) &`],
    );
    assert.notEqual(a.host, b.host, 'A and B on different hosts');

    /** A's probe lines (of B's public or private address) after `from` characters of its console. */
    const probesOf = (tag: string, from: number) =>
      [
        ...readConsole(lab, a.task)
          .slice(from)
          .matchAll(new RegExp(`a-probe ${tag} ping=(ok|no) tcp=(\\S+)`, 'g')),
      ].map((m) => ({ ping: m[1], tcp: m[2] }));
    const probes = (from: number) => [...probesOf('pub', from), ...probesOf('priv', from)];
    /** The last three probes of both addresses: pings answered, TCP answers as `tcp` says. */
    const lastThree = (from: number, tcp: (t: string) => boolean) =>
      ['pub', 'priv'].every((tag) => {
        const l = probesOf(tag, from).slice(-3);
        return l.length === 3 && l.every((x) => x.ping === 'ok' && tcp(x.tcp));
      });
    // Three probes in a row: A pings B, and its TCP connection gets nothing.
    await until(
      'A pings B (public and private) but cannot reach its TCP port',
      () => lastThree(0, (t) => t === 'none') || undefined,
      150_000,
      500,
    );
    assert.ok(!probes(0).some((x) => x.tcp === 'hello-from-b'), 'no TCP answer from B, ever, so far');
    // Stateful: B's pings to the gateway get their replies, though B lets in ICMP only from ga's members.
    await until(
      'B reaches the gateway',
      () => (/b-probe gw=ok/.test(readConsole(lab, b.task)) ? true : undefined),
      60_000,
      500,
    );
    assert.equal(await rootPing(b.ip), false, 'the gateway is in no group that B lets in');

    // The TCP rule, on the running guests.
    const mark = readConsole(lab, a.task).length;
    const t0 = Date.now();
    await finish(
      await p.call('PUT', '/security_groups/', token, {
        owner: ws,
        name: 'gb',
        update_dict: { rules: [allEgress, icmpFromA, tcpFromA] },
      }),
    );
    const installed = (Date.now() - t0) / 1000;
    await until(
      'A reaches B over TCP',
      () => probesOf('pub', mark).some((x) => x.tcp === 'hello-from-b') || undefined,
      60_000,
      200,
    );
    await until(
      "A reaches B's private address over TCP",
      () => probesOf('priv', mark).some((x) => x.tcp === 'hello-from-b') || undefined,
      60_000,
      200,
    );
    const opened = (Date.now() - t0) / 1000;
    const g = (await p.inv.call('GET', `/${ws}/security_groups/gb/`, token)).body;
    assert.deepEqual(g.rules, [allEgress, icmpFromA, tcpFromA]);

    // A renamed VM stays a member of its groups: its rules (put again by the change below) find it by its
    // new name, so its own traffic and its group's remote_group rule still pass.
    await finish(
      await p.call('PUT', '/vms/', token, { owner: ws, name: 'sg-a', update_dict: { name: 'sg-a2' } }),
    );

    // Removed again: closed again (A's pings, under its new name, still answered).
    const mark2 = readConsole(lab, a.task).length;
    await finish(
      await p.call('PUT', '/security_groups/', token, {
        owner: ws,
        name: 'gb',
        update_dict: { rules: [allEgress, icmpFromA] },
      }),
    );
    await until(
      'A loses TCP to B again',
      () => lastThree(mark2, (t) => t === 'none') || undefined,
      60_000,
      500,
    );
    console.log(
      `# the TCP rule was on both hosts ${installed.toFixed(1)} s after the PUT was sent; A's first TCP answer came after ${opened.toFixed(1)} s (A probes every ~2-4 s)`,
    );
    assert.ok(opened < 30, `opened after ${opened} s`);

    // A group in use cannot go; once its VM is gone it can.
    const inUse = await p.call('DELETE', '/security_groups/', token, { owner: ws, name: 'gb' });
    assert.equal(inUse.status, 409);
    for (const name of ['sg-a2', 'sg-b'])
      await finish(await p.call('DELETE', '/vms/', token, { owner: ws, name }));
    await finish(await p.call('DELETE', '/security_groups/', token, { owner: ws, name: 'gb' }));
    assert.equal((await p.inv.call('GET', `/${ws}/security_groups/gb/`, token)).status, 404);
  });
});
