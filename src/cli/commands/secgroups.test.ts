import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatRule, parseRule } from './secgroups.ts';

test('rules on the command line: parsed, printed back the same, bad ones refused naming the rule', () => {
  assert.deepEqual(parseRule('ingress:tcp:22:10.0.0.0/8'), {
    direction: 'ingress',
    protocol: 'tcp',
    port_min: 22,
    port_max: 22,
    remote_cidr: '10.0.0.0/8',
  });
  assert.deepEqual(parseRule('ingress:icmp::web'), {
    direction: 'ingress',
    protocol: 'icmp',
    remote_group: 'web',
  });
  assert.deepEqual(parseRule('egress:udp:1000-2000'), {
    direction: 'egress',
    protocol: 'udp',
    port_min: 1000,
    port_max: 2000,
  });
  for (const s of ['ingress:tcp:22:10.0.0.0/8', 'ingress:icmp::web', 'egress:any', 'egress:udp:1000-2000'])
    assert.equal(formatRule(parseRule(s)), s);
  for (const bad of ['in:tcp', 'ingress:http', 'ingress:tcp:x', 'ingress:tcp:1:a:b'])
    assert.throws(
      () => parseRule(bad),
      (e: { field?: string }) => e.field === 'rule',
      bad,
    );
});
