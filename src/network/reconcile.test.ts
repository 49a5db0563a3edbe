// The reconciler's decisions, against a switch kept in memory (a test double of the SwitchDriver role) and
// a real network database (PGlite). test/system/isolation.test.ts shows the same on the lab's OVS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../lib/db.ts';
import { createLogger } from '../lib/log.ts';
import type { NetworkContext } from './context.ts';
import { networkMigrations } from './migrations.ts';
import { parseFlowLine, type FlowInfo, type InterfaceInfo, type PortInfo, type SwitchDriver } from './ovs.ts';
import { BASE_COOKIE, portCookie } from './portsecurity.ts';
import { createReconciler } from './reconcile.ts';
import type { NetworkDB } from './schema.ts';

/** One host's switch: private-br ports (tag, mark, link) and public-br interfaces and rules. */
function memorySwitch() {
  const ports = new Map<string, PortInfo & { up: boolean }>();
  const ifaces: InterfaceInfo[] = [];
  let flows: FlowInfo[] = [];
  const drv: SwitchDriver = {
    async setPortTag(_a, port, vlan) {
      ports.get(port)!.tag = vlan;
    },
    async portTag(_a, port) {
      return ports.has(port) ? ports.get(port)!.tag : null;
    },
    async listPorts(_a, bridge) {
      assert.equal(bridge, 'private-br');
      return [...ports.values()].map(({ name, tag, quarantine }) => ({
        name,
        ...(tag !== undefined ? { tag } : {}),
        ...(quarantine !== undefined ? { quarantine } : {}),
      }));
    },
    async addInternalPort() {},
    async deletePort() {},
    async quarantinePort(_a, port, reason) {
      Object.assign(ports.get(port)!, { tag: 4095, quarantine: reason });
    },
    async releasePort(_a, port, vlan) {
      Object.assign(ports.get(port)!, { tag: vlan, quarantine: undefined });
    },
    async setPortLink(_a, _b, port, up) {
      ports.get(port)!.up = up;
    },
    async listInterfaces(_a, bridge) {
      assert.equal(bridge, 'public-br');
      return ifaces.map((i) => ({ ...i }));
    },
    async addFlows(_a, _b, lines) {
      for (const l of lines) {
        const del = /^delete cookie=0x([0-9a-f]{16})\/-1$/.exec(l);
        if (del) flows = flows.filter((f) => f.cookie !== del[1]);
        else flows.push(parseFlowLine(l)!);
      }
    },
    async dumpFlows() {
      return flows.map((f) => ({ ...f }));
    },
    async deleteFlows(_a, _b, cookie, mask) {
      const m = BigInt(`0x${mask}`);
      flows = flows.filter((f) => (BigInt(`0x${f.cookie}`) & m) !== (BigInt(`0x${cookie}`) & m));
    },
  };
  return { drv, ports, ifaces, flows: () => flows };
}

async function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'kloudak-netrec-'));
  const database = await openDatabase<NetworkDB>({ dir, migrations: networkMigrations });
  const sw = memorySwitch();
  const told: { workspace: string; event: Record<string, unknown> }[] = [];
  const config = {
    PUBLIC_BRIDGE: 'public-br',
    PRIVATE_BRIDGE: 'private-br',
    VLANS: [[2, 4094]] as [number, number][],
    VLANS_RESERVED: [] as [number, number][],
    ORPHAN_GRACE: 3600,
    SG_PROBE_SOURCES: undefined,
  };
  const ctx = {
    db: database.db,
    hosts: { all: async () => [{ name: 'h1', address: '10.0.0.1' }], get: async () => undefined },
    ovs: sw.drv,
    policy: { groups: async () => [], vms: async () => [] },
    config,
    log: createLogger('test', 'silent'),
    notify: async (workspace: string, event: Record<string, unknown>) => void told.push({ workspace, event }),
  } as unknown as NetworkContext;
  return {
    ctx,
    sw,
    told,
    config,
    reconciler: createReconciler(ctx),
    async close() {
      await database.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const port = (t: Awaited<ReturnType<typeof setup>>, name: string, vlan: number, host = 'h1', vm = 'v') =>
  t.ctx.db
    .insertInto('ports')
    .values({
      host,
      dev: name,
      mac: '52:54:00:00:00:01',
      workspace: 'ws',
      vm,
      network: 'n',
      vlan,
      task_id: 't',
    })
    .execute();

test('private ports: no record means quarantine (at once, or after the grace for a known VLAN)', async () => {
  const t = await setup();
  try {
    await t.ctx.db
      .insertInto('networks')
      .values({ workspace: 'ws', name: 'n', vlan: 7, subnet: null, task_id: 't' })
      .execute();
    // The public port of VM "v" tells whose NIC kaaaaaaaan1 is.
    await t.ctx.db
      .insertInto('public_ports')
      .values({
        host: 'h1',
        dev: 'kaaaaaaaan0',
        mac: '52:54:00:00:00:02',
        ip: '10.0.1.2',
        workspace: 'ws',
        vm: 'v',
        task_id: 't',
      })
      .execute();
    const add = (name: string, tag?: number) => t.sw.ports.set(name, { name, tag, up: true });
    add('kaaaaaaaan1'); // untagged: a trunk of every VLAN
    add('kbbbbbbbbn1', 7); // a network's VLAN, no record yet (its task may be coming)
    add('kccccccccn1', 9); // recorded on VLAN 7
    add('kddddddddn1', 7); // recorded on h2 (moved here; the failover's task is late)
    add('keeeeeeeen1', 3999); // a VLAN no network has
    add('kr0123abcv7', 5); // a router's port: not a VM's
    await port(t, 'kccccccccn1', 7);
    await port(t, 'kddddddddn1', 7, 'h2');

    const r1 = await t.reconciler.once();
    assert.deepEqual(
      r1.quarantined.map((q) => [q.dev, q.reason, q.workspace, q.vm]),
      [
        ['kaaaaaaaan1', 'untagged', 'ws', 'v'],
        ['keeeeeeeen1', 'unknown-vlan', undefined, undefined],
      ],
    );
    assert.deepEqual(r1.drift, [{ host: 'h1', dev: 'kccccccccn1', expected: 7, found: 9 }]);
    assert.deepEqual(t.sw.ports.get('kaaaaaaaan1'), {
      name: 'kaaaaaaaan1',
      tag: 4095,
      quarantine: 'untagged',
      up: false,
    });
    assert.equal(t.sw.ports.get('kccccccccn1')!.tag, 7);
    assert.equal(t.sw.ports.get('kbbbbbbbbn1')!.up, true, 'within the grace');
    assert.equal(t.sw.ports.get('kddddddddn1')!.up, true, 'the record on the host it moved from explains it');
    assert.equal(t.sw.ports.get('kr0123abcv7')!.tag, 5);
    assert.deepEqual(
      t.told.map((x) => [x.workspace, x.event.kind, x.event.name, x.event.dev]),
      [['ws', 'port_quarantined', 'v', 'kaaaaaaaan1']],
      'the room of a known VM is told',
    );

    // A quarantined port that something brought up again is set down again, and not reported twice.
    t.sw.ports.get('kaaaaaaaan1')!.up = true;
    const r2 = await t.reconciler.once();
    assert.deepEqual(r2.quarantined, []);
    assert.equal(t.sw.ports.get('kaaaaaaaan1')!.up, false);
    assert.equal(t.told.length, 1);

    // The grace is over: the port no task ever recorded is quarantined.
    t.config.ORPHAN_GRACE = 0;
    const r3 = await t.reconciler.once();
    assert.deepEqual(
      r3.quarantined.map((q) => [q.dev, q.reason]),
      [['kbbbbbbbbn1', 'no-record']],
    );

    // The record comes (a late network task): VLAN back, link up, mark gone.
    await port(t, 'kaaaaaaaan1', 7);
    const r4 = await t.reconciler.once();
    assert.deepEqual(
      r4.released.map((x) => [x.dev, x.expected]),
      [['kaaaaaaaan1', 7]],
    );
    assert.deepEqual(t.sw.ports.get('kaaaaaaaan1'), {
      name: 'kaaaaaaaan1',
      tag: 7,
      quarantine: undefined,
      up: true,
    });
  } finally {
    await t.close();
  }
});

test("public ports: the baseline and each recorded port's rules are put back, others removed", async () => {
  const t = await setup();
  try {
    const rec = {
      host: 'h1',
      dev: 'kaaaaaaaan0',
      mac: '52:54:00:00:00:02',
      ip: '10.0.1.2',
      workspace: 'ws',
      vm: 'v',
      task_id: 't',
    };
    await t.ctx.db.insertInto('public_ports').values(rec).execute();
    t.sw.ifaces.push(
      { name: 'pub-up', ofport: 1 },
      { name: 'kaaaaaaaan0', ofport: 5 },
      { name: 'kbbbbbbbbn0', ofport: 6 },
    );
    const a = portCookie('kaaaaaaaan0');
    const inPorts = (cookie: string) =>
      t.sw
        .flows()
        .filter((f) => f.cookie === cookie && f.table === 0)
        .map((f) => f.inPort);

    const r1 = (await t.reconciler.once()).portSecurity;
    assert.deepEqual(r1, [{ host: 'h1', baseline: true, installed: ['kaaaaaaaan0'], removed: [] }]);
    assert.deepEqual(inPorts(a), [5, 5, 5]);
    assert.ok(
      t.sw.flows().some((f) => f.cookie === BASE_COOKIE && f.inPort === 1),
      'the uplink goes through',
    );
    assert.ok(
      !t.sw.flows().some((f) => f.inPort === 6),
      'a VM port without a record has no rule: the default drop holds it',
    );
    assert.deepEqual((await t.reconciler.once()).portSecurity, [], 'nothing to do twice');

    // The domain restarted: a new OpenFlow port number.
    t.sw.ifaces[1].ofport = 9;
    assert.deepEqual((await t.reconciler.once()).portSecurity[0]?.installed, ['kaaaaaaaan0']);
    assert.deepEqual(inPorts(a), [9, 9, 9]);

    // Rules nobody records (a VM deleted while the service was down) go; a new uplink joins the baseline.
    await t.sw.drv.addFlows('', '', [
      `table=0,priority=200,cookie=0x${portCookie('kccccccccn0')},in_port=7,actions=drop`,
    ]);
    t.sw.ifaces.push({ name: 'bond1', ofport: 12 });
    const r3 = (await t.reconciler.once()).portSecurity[0];
    assert.deepEqual([r3.baseline, r3.removed], [true, ['kccccccccn0']]);
    assert.ok(t.sw.flows().some((f) => f.cookie === BASE_COOKIE && f.inPort === 12));

    // The domain is gone from this host: its old port number must not keep rules.
    t.sw.ifaces.splice(1, 1);
    assert.deepEqual((await t.reconciler.once()).portSecurity[0]?.removed, ['kaaaaaaaan0']);
    assert.deepEqual(inPorts(a), []);
  } finally {
    await t.close();
  }
});
