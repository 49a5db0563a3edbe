import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIp, inSubnet, parseIp, parseSubnet } from './ipv4.ts';

test('parses and formats addresses', () => {
  assert.equal(parseIp('10.0.0.1'), 0x0a000001);
  assert.equal(formatIp(0xc0a80aff), '192.168.10.255');
  for (const bad of ['10.0.0', '256.1.1.1', '01.2.3.4', 'a.b.c.d', '1.2.3.4.5', ''])
    assert.equal(parseIp(bad), undefined, bad);
});

test('subnets exclude network and broadcast, refuse host bits and huge ranges', () => {
  const s = parseSubnet('10.1.2.0/24')!;
  assert.equal(formatIp(s.first), '10.1.2.1');
  assert.equal(formatIp(s.last), '10.1.2.254');
  assert.ok(!inSubnet(parseIp('10.1.2.0')!, s));
  assert.ok(!inSubnet(parseIp('10.1.2.255')!, s));
  assert.ok(inSubnet(parseIp('10.1.2.7')!, s));
  assert.equal(parseSubnet('10.1.2.1/24'), undefined);
  assert.equal(parseSubnet('10.0.0.0/8'), undefined);
  assert.equal(parseSubnet('10.1.2.0/31'), undefined);
  assert.equal(parseSubnet('10.1.2.0'), undefined);
});
