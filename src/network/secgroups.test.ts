import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_RULES, type SgRule } from '../lib/contracts/secgroups.ts';
import { groupFlows, loadPolicy, parseProbeSources, portMasks, privatePortFlows } from './secgroups.ts';

/** The ports a list of tp_dst value/mask strings matches. */
function covered(masks: string[]): Set<number> {
  const out = new Set<number>();
  for (const m of masks) {
    const [v, k] = m.split('/').map(Number);
    const mask = k ?? 0xffff;
    for (let p = 0; p <= 0xffff; p++) if ((p & mask) === (v & mask)) out.add(p);
  }
  return out;
}

test('port ranges become masks matching exactly the range', () => {
  for (const [lo, hi] of [
    [22, 22],
    [80, 90],
    [1, 1023],
    [1000, 2000],
    [8080, 8089],
    [49152, 65535],
  ]) {
    const got = covered(portMasks(lo, hi));
    assert.equal(got.size, hi - lo + 1, `${lo}-${hi}`);
    assert.ok(got.has(lo) && got.has(hi) && !got.has(lo - 1) && !got.has(hi + 1), `${lo}-${hi}`);
  }
});

const source = (groups: Record<string, SgRule[]>, vms: [string, string, string[], string?][]) => ({
  groups: async () => Object.entries(groups).map(([name, rules]) => ({ name, description: '', rules })),
  vms: async () =>
    vms.map(([name, ip, security_groups, state]) => ({
      name,
      ip,
      security_groups,
      state: state ?? 'U',
      interfaces: name === 'a' ? [{ ip: '192.168.5.10/24' }, { ip: null }] : [],
    })),
});

test('the default group: every new egress connection, ingress only from members; replies pass; the rest drops', async () => {
  const policy = await loadPolicy(
    source({ default: DEFAULT_RULES }, [
      ['a', '10.1.0.5', ['default']],
      ['b', '10.1.0.6', ['default']],
      ['gone', '10.1.0.9', ['default'], 'X'],
      ['alone', '10.1.0.7', []],
    ]),
    'ws',
  );
  const f = groupFlows({ dev: 'k0123abcdn0', mac: '52:54:00:aa:bb:01', vm: 'a' }, 5, policy);
  const c = 'cookie=0x4b4c0123abcd0000';
  assert.ok(f.includes(`table=10,priority=100,${c},in_port=5,ip,actions=ct(table=11,zone=5)`));
  assert.ok(f.includes(`table=11,priority=200,${c},in_port=5,ct_state=+trk+est,ip,actions=resubmit(,20)`));
  assert.ok(
    f.includes(
      `table=11,priority=100,${c},in_port=5,ct_state=+trk+new,ip,actions=ct(commit,zone=5),resubmit(,20)`,
    ),
  );
  assert.ok(f.includes(`table=20,priority=100,${c},dl_dst=52:54:00:aa:bb:01,ip,actions=ct(table=21,zone=5)`));
  const ingress = f.filter((l) => l.startsWith('table=21,priority=100,'));
  assert.deepEqual(
    ingress.map((l) => /nw_src=([\d.]+)/.exec(l)?.[1]),
    ['10.1.0.5', '10.1.0.6', '192.168.5.10'],
    "members only (public and private NICs' addresses); a VM being deleted is none",
  );
  assert.ok(f.includes(`table=21,priority=10,${c},dl_dst=52:54:00:aa:bb:01,actions=drop`));
  // A VM in no group: only the drops (and the replies to nothing it could start).
  const none = groupFlows({ dev: 'k0123abcdn1', mac: '52:54:00:aa:bb:02', vm: 'alone' }, 6, policy);
  assert.equal(none.filter((l) => l.includes('ct(commit')).length, 0);
});

test('protocols, port ranges and remote networks become matches', async () => {
  const rules: SgRule[] = [
    { direction: 'ingress', protocol: 'tcp', port_min: 8080, port_max: 8081, remote_cidr: '192.168.0.0/16' },
    { direction: 'ingress', protocol: 'icmp', remote_group: 'web' },
    { direction: 'egress', protocol: 'udp', port_min: 53 },
  ];
  const policy = await loadPolicy(source({ web: rules }, [['a', '10.1.0.5', ['web']]]), 'ws');
  const f = groupFlows({ dev: 'k0123abcdn0', mac: '52:54:00:aa:bb:01', vm: 'a' }, 5, policy);
  const allow = f.filter((l) => l.includes('ct(commit'));
  assert.ok(
    allow.some(
      (l) => l.includes('table=21,') && l.includes(',tcp,nw_src=192.168.0.0/16,tp_dst=0x1f90/0xfffe,'),
    ),
  );
  assert.ok(allow.some((l) => l.includes('table=21,') && l.includes(',icmp,nw_src=10.1.0.5,')));
  assert.ok(allow.some((l) => l.includes('table=21,') && l.includes(',icmp,nw_src=192.168.5.10,')));
  assert.ok(allow.some((l) => l.includes('table=11,') && l.includes(',udp,tp_dst=53,')));
  assert.equal(allow.length, 4);
  // A rollback's override: the group's earlier rules instead of inventory's.
  const before = await loadPolicy(source({ web: rules }, [['a', '10.1.0.5', ['web']]]), 'ws', {
    group: 'web',
    rules: [],
  });
  const g = groupFlows({ dev: 'k0123abcdn0', mac: '52:54:00:aa:bb:01', vm: 'a' }, 5, before);
  assert.equal(g.filter((l) => l.includes('ct(commit')).length, 0);
});

test('a private NIC: its IPv4 and IPv4 to its MAC go through the group tables in a zone of their own', async () => {
  const policy = await loadPolicy(source({ default: DEFAULT_RULES }, [['a', '10.1.0.5', ['default']]]), 'ws');
  const f = privatePortFlows({ dev: 'k0123abcdn1', mac: '52:54:00:AA:bb:02', vm: 'a' }, 4, policy);
  const c = 'cookie=0x4b4c0123abcd0001';
  assert.deepEqual(f.slice(0, 2), [`delete cookie=0x4b4c0123abcd0001/-1`, 'delete in_port=4']);
  assert.ok(f.includes(`table=0,priority=100,${c},in_port=4,ip,actions=resubmit(,10)`));
  assert.ok(f.includes(`table=0,priority=90,${c},dl_dst=52:54:00:aa:bb:02,ip,actions=resubmit(,20)`));
  assert.ok(
    f.some((l) => l.includes('ct(table=11,zone=32772)')),
    'zone 0x8000 + port',
  );
  assert.throws(() => privatePortFlows({ dev: 'k0123abcdn1', mac: 'x,actions=NORMAL', vm: 'a' }, 4, policy));
});

test("monitoring's pings from SG_PROBE_SOURCES reach every VM, whatever its groups", async () => {
  assert.deepEqual(parseProbeSources(' 10.213.1.1, 10.9.0.0/16 ,'), ['10.213.1.1/32', '10.9.0.0/16']);
  assert.throws(() => parseProbeSources('10.213.1.1,nope'), /SG_PROBE_SOURCES/);
  const policy = await loadPolicy(source({}, [['alone', '10.1.0.7', []]]), 'ws', undefined, [
    '10.213.1.1/32',
  ]);
  const f = groupFlows({ dev: 'k0123abcdn0', mac: '52:54:00:aa:bb:01', vm: 'alone' }, 5, policy);
  const allow = f.filter((l) => l.includes('ct(commit'));
  assert.equal(allow.length, 1);
  assert.match(allow[0], /^table=21,.*,icmp,icmp_type=8,nw_src=10\.213\.1\.1\/32,/);
});
