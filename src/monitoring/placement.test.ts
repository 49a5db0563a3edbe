import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseHost, choosePool, CPU_OVERCOMMIT, type HostView } from './placement.ts';
import { endpointOf, parseHostBatch, parsePoolOutput } from './probe.ts';

const host = (name: string, o: Partial<HostView> = {}): HostView => ({
  name,
  up: true,
  seen: true,
  capacityMib: 4096,
  measuredFreeMib: null,
  cpus: 2,
  allocMib: 0,
  allocVcpus: 0,
  reservedMib: 0,
  ...o,
});

test('the host with the most free memory wins among those that fit', () => {
  const hosts = [host('a', { allocMib: 1024 }), host('b', { allocMib: 512 }), host('c', { allocMib: 3900 })];
  assert.equal(chooseHost(hosts, { memoryMib: 256, vcpus: 1 })?.name, 'b');
  assert.equal(chooseHost(hosts, { memoryMib: 256, vcpus: 1, exclude: ['b'] })?.name, 'a');
});

test('measured free memory caps the registered room', () => {
  const hosts = [host('a', { measuredFreeMib: 300 }), host('b', { allocMib: 2048 })];
  assert.equal(chooseHost(hosts, { memoryMib: 256, vcpus: 1 })?.name, 'b');
  assert.equal(chooseHost(hosts, { memoryMib: 2100, vcpus: 1 }), undefined);
});

test('a burst between two checks spreads: reservations count against the measured free memory too', () => {
  // Both hosts have room by their records; the last check measured a little more free memory on b.
  const hosts = [host('a', { measuredFreeMib: 1000 }), host('b', { measuredFreeMib: 1050 })];
  const placed: string[] = [];
  for (let i = 0; i < 6; i++) {
    const h = chooseHost(hosts, { memoryMib: 100, vcpus: 1 })!;
    placed.push(h.name);
    // What the placement server does with an answer: a reservation on that host until a check sees it run.
    const v = hosts.find((x) => x.name === h.name)!;
    Object.assign(v, { reservedMib: v.reservedMib + 100, allocVcpus: v.allocVcpus + 1 });
  }
  assert.deepEqual(placed, ['b', 'a', 'b', 'a', 'b', 'a']);
});

test('down, unchecked and CPU-full hosts are never chosen', () => {
  const full = CPU_OVERCOMMIT * 2;
  const hosts = [
    host('a', { up: false }),
    host('b', { seen: false }),
    host('c', { allocVcpus: full }),
    host('d', { allocVcpus: full - 1, allocMib: 3000 }),
  ];
  assert.equal(chooseHost(hosts, { memoryMib: 64, vcpus: 1 })?.name, 'd');
  assert.equal(chooseHost(hosts, { memoryMib: 64, vcpus: 2 }), undefined);
});

test('no host with the memory: nothing', () => {
  assert.equal(chooseHost([host('a'), host('b')], { memoryMib: 65536, vcpus: 1 }), undefined);
});

test('ties go to the host with more vCPUs left, then by name', () => {
  assert.equal(chooseHost([host('b'), host('a')], { memoryMib: 1, vcpus: 1 })?.name, 'a');
  assert.equal(chooseHost([host('a', { allocVcpus: 1 }), host('b')], { memoryMib: 1, vcpus: 1 })?.name, 'b');
});

test('pools: the most free space among those with room; the filesystem caps it', () => {
  const pools = [
    { name: 'p1', seen: true, sizeGib: 100, fsFreeGib: 10, usedGib: 5 },
    { name: 'p2', seen: true, sizeGib: 20, fsFreeGib: 500, usedGib: 1 },
    { name: 'p3', seen: false, sizeGib: 1000, fsFreeGib: null, usedGib: null },
  ];
  assert.equal(choosePool(pools, 1)?.name, 'p2');
  assert.equal(choosePool(pools, 19.5), undefined);
});

test('virsh batch output parses into host facts', () => {
  const out = `CPU model:           x86_64
CPU(s):              2
Memory size:         8874200 KiB
@@cpu@@user:                  3241220000000
system:                 804030000000
idle:                  1714320000000
iowait:                  12650000000
@@free@@    0:    3384612 KiB
@@stats@@Domain: 'kloudak-a'
  state.state=1
  cpu.time=6035289000
  cpu.user=4999617000
  cpu.system=1035671000
  balloon.current=98304
  balloon.maximum=98304
  balloon.rss=225020
  vcpu.current=1

Domain: 'other'
  state.state=1
  cpu.time=10
@@list@@ 3   kloudak-a   running   ws-1/guest-a
 4   other   running
`;
  const f = parseHostBatch(out);
  assert.equal(f.cpus, 2);
  assert.equal(f.memoryMib, Math.floor(8874200 / 1024));
  assert.equal(f.freeMib, Math.floor(3384612 / 1024));
  assert.equal(f.cpuTimes?.idle, 1714320000000);
  assert.equal(f.domains.length, 2);
  assert.deepEqual(
    {
      name: f.domains[0].name,
      title: f.domains[0].title,
      mem: f.domains[0].maxMemoryKib,
      vcpus: f.domains[0].vcpus,
      cpu: f.domains[0].cpuTimeNs,
    },
    { name: 'kloudak-a', title: 'ws-1/guest-a', mem: 98304, vcpus: 1, cpu: 6035289000 },
  );
  assert.equal(f.domains[1].title, undefined);
  assert.throws(() => parseHostBatch('error: failed to connect'));
});

test('df and du output parse into pool facts', () => {
  const p = parsePoolOutput(
    'Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/vda 104857600 52428800 52428800 50% /\n2097152\t/var/lib/kloudak/pool/vms\n',
  );
  assert.equal(p.fsSizeGib, 100);
  assert.equal(p.fsFreeGib, 50);
  assert.equal(p.usedGib, 2);
});

test('the TCP endpoint of a libvirt URI, for the reachability check', () => {
  assert.deepEqual(endpointOf('qemu+libssh://root@10.213.0.11/system?keyfile=/k'), {
    host: '10.213.0.11',
    port: 22,
  });
  assert.deepEqual(endpointOf('qemu+ssh://root@kvm-1:2222/system'), { host: 'kvm-1', port: 2222 });
  assert.deepEqual(endpointOf('qemu+tcp://kvm-2/system'), { host: 'kvm-2', port: 16509 });
  assert.deepEqual(endpointOf('qemu://kvm-3/system'), { host: 'kvm-3', port: 16514 });
  assert.equal(endpointOf('qemu:///system'), undefined);
  assert.equal(endpointOf('test:///default'), undefined);
});
