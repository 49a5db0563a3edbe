import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QUEUE_MESSAGES } from '../lib/contracts/messages.ts';
import { parseFlowLine } from './ovs.ts';
import {
  BASE_COOKIE,
  baselineFlows,
  devOfCookie,
  infrastructurePorts,
  portCookie,
  portFlows,
  TABLE,
} from './portsecurity.ts';
import type { Policy } from './secgroups.ts';

const pub = { dev: 'k0123abcdn0', mac: '52:54:00:AA:bb:01', ip: '10.213.1.7' };
const port = { ...pub, vm: 'v1' };
/** A workspace without groups: the port's security group tables only drop (secgroups.test.ts has the rest). */
const NONE: Policy = { groupsOf: () => [], rulesOf: () => [], addressesOf: () => [], probeSources: [] };
/** The port security part of a port's rules (table 0). */
const table0 = (f: string[]) => f.filter((l) => l.startsWith('delete') || l.startsWith('table=0,'));

test('a port forwards only its own MAC with its own IPv4, as ARP sender and IPv4 source', () => {
  const f = table0(portFlows(port, 5, NONE));
  assert.equal(f[0], `delete cookie=0x${portCookie(port.dev)}/-1`, 'replaces the earlier rules of the port');
  assert.ok(
    f.includes(
      `table=0,cookie=0x4b4c0123abcd0000,in_port=5,priority=200,dl_src=52:54:00:aa:bb:01,arp,arp_sha=52:54:00:aa:bb:01,arp_spa=10.213.1.7,actions=resubmit(,${TABLE.egress})`,
    ),
    f.join('\n'),
  );
  assert.ok(f.some((l) => l.includes(',ip,nw_src=10.213.1.7,') && l.includes('dl_src=52:54:00:aa:bb:01')));
  assert.ok(f.at(-1)!.endsWith('in_port=5,priority=150,actions=drop'), 'the rest of the port is dropped');
  assert.equal(f.filter((l) => l.includes('resubmit')).length, 2, 'nothing else is let through');
});

test('values that would change a rule (or add one) are refused', () => {
  for (const bad of [
    { ...port, mac: '52:54:00:aa:bb:01,actions=NORMAL' },
    { ...port, mac: '52:54:00:aa:bb:01\ntable=0,actions=NORMAL' },
    { ...port, ip: '10.213.1.7/0' },
    { ...port, ip: '10.213.1.07' },
    { ...port, ip: '10.213.1.7,in_port=1' },
    { ...port, dev: 'vnet0' },
    { ...port, dev: 'k0123abcdn0,x' },
  ])
    assert.throws(() => portFlows(bad, 5, NONE), JSON.stringify(bad));
  assert.throws(() => portFlows(port, 0, NONE));
  assert.throws(() => portFlows(port, 1.5, NONE));
  assert.throws(() => portFlows(port, 65534, NONE), 'reserved OpenFlow port numbers');
});

test('the baseline drops by default and lets infrastructure ports through, then security-group tables, then NORMAL', () => {
  const f = baselineFlows([1, 7]);
  assert.equal(f[0], `delete cookie=0x${BASE_COOKIE}/-1`);
  assert.ok(f.includes(`table=0,priority=1,cookie=0x${BASE_COOKIE},actions=drop`));
  for (const p of ['LOCAL', '1', '7'])
    assert.ok(f.some((l) => l.includes(`priority=100,`) && l.includes(`in_port=${p},actions=resubmit(,20)`)));
  assert.ok(f.some((l) => l.startsWith('table=10,priority=0,') && l.endsWith('resubmit(,20)')));
  assert.ok(f.some((l) => l.startsWith('table=20,priority=0,') && l.endsWith('resubmit(,30)')));
  assert.ok(f.some((l) => l.startsWith('table=30,priority=0,') && l.endsWith('actions=NORMAL')));
  // Priority 0 of table 0 is OVS's own NORMAL rule, put back on every database change: never used here.
  assert.ok(!f.some((l) => l.startsWith('table=0,priority=0')));
});

test('VM ports are never infrastructure, whatever their number', () => {
  assert.deepEqual(
    infrastructurePorts([
      { name: 'pub-up', ofport: 1 },
      { name: 'k0123abcdn0', ofport: 2 },
      { name: 'bond0', ofport: 9 },
      { name: 'eth9' },
    ]),
    [1, 9],
  );
});

test('cookies name their port and back', () => {
  assert.equal(portCookie('k0123abcdn12'), '4b4c0123abcd000c');
  assert.equal(devOfCookie('4b4c0123abcd000c'), 'k0123abcdn12');
  assert.equal(devOfCookie(BASE_COOKIE), undefined);
  assert.equal(devOfCookie('0000000000000001'), undefined);
});

test('dumped rules are read back with their cookie, table, priority and port', () => {
  assert.deepEqual(
    parseFlowLine(
      ' cookie=0x4b4c0123abcd0000, priority=200,arp,in_port=5,dl_src=52:54:00:aa:bb:01 actions=resubmit(,10)',
    ),
    {
      cookie: '4b4c0123abcd0000',
      table: 0,
      priority: 200,
      inPort: 5,
      text: 'cookie=0x4b4c0123abcd0000, priority=200,arp,in_port=5,dl_src=52:54:00:aa:bb:01 actions=resubmit(,10)',
    },
  );
  const t = parseFlowLine(` cookie=0x${BASE_COOKIE}, table=30, priority=0 actions=NORMAL`)!;
  assert.equal(t.table, 30);
  assert.equal(t.inPort, undefined);
  assert.equal(
    parseFlowLine(` cookie=0x${BASE_COOKIE}, priority=100,in_port=LOCAL actions=x`)!.inPort,
    'LOCAL',
  );
  assert.equal(parseFlowLine(' priority=0 actions=NORMAL'), undefined, 'rules without a cookie are not ours');
});

test("the bus contract takes compute's public port and refuses values that are not a port, a MAC or an IPv4", () => {
  const tag = {
    task_id: 't-1',
    type: 'vm',
    method: 'POST',
    owner: 'ws',
    name: 'web',
    retries: 0,
    attempt: 1,
    host: 'h1',
    interfaces: [],
  };
  const network = QUEUE_MESSAGES.network;
  assert.ok(network.is({ ...tag, public: pub }));
  assert.ok(network.is(tag), 'a task of a compute from before port security');
  for (const bad of [
    { ...pub, mac: '52:54:00:aa:bb:01,actions=NORMAL' },
    { ...pub, ip: '10.213.1.7/0' },
    { ...pub, dev: 'vnet0' },
    { ...pub, extra: 1 },
  ])
    assert.equal(network.is({ ...tag, public: bad }), false, JSON.stringify(bad));
});
