// The reconciler's decisions, against a switch kept in memory and a real network database (PGlite):
// test/support/network.ts. test/system/isolation.test.ts shows the same on the lab's OVS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { networkTestContext, portRecord, publicPortRecord } from '../../test/support/network.ts';
import { BASE_COOKIE, portCookie } from './portsecurity.ts';
import { createReconciler } from './reconcile.ts';

async function setup() {
  const t = await networkTestContext();
  return { ...t, reconciler: createReconciler(t.ctx) };
}

const port = (t: Awaited<ReturnType<typeof setup>>, dev: string, vlan: number, host = 'h1', vm = 'v') =>
  t.ctx.db.insertInto('ports').values(portRecord({ host, dev, vm, vlan })).execute();

test('private ports: no record means quarantine (at once, or after the grace for a known VLAN)', async () => {
  const t = await setup();
  try {
    await t.ctx.db
      .insertInto('networks')
      .values({ workspace: 'ws', name: 'n', vlan: 7, subnet: null, task_id: 't' })
      .execute();
    // The public port of VM "v" tells whose NIC kaaaaaaaan1 is.
    await t.ctx.db.insertInto('public_ports').values(publicPortRecord()).execute();
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
    const rec = publicPortRecord();
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
