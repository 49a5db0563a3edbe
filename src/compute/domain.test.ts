import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XMLParser } from 'fast-xml-parser';
import { devFor, domainXml, macFor } from './domain.ts';
import { seedDocuments } from './seed.ts';

const spec = {
  name: 'kloudak-1',
  uuid: '6f1c1d2e-0000-4000-8000-000000000001',
  title: `ws/evil'name"<&>`,
  type: 'qemu' as const,
  memoryMib: 96,
  vcpus: 1,
  disk: '/pool/vms/a/disk.qcow2',
  seed: '/pool/vms/a/seed.iso',
  console: '/pool/vms/a/console.log',
  kernel: '/pool/t/vmlinuz',
  initrd: '/pool/t/initrd.img',
  cmdline: 'console=ttyS0 panic=-1',
  nics: [{ mac: macFor('x', 0), bridge: 'public-br', dev: devFor('x', 0) }],
};

test('domain XML escapes every value and parses back to the same title', () => {
  const out = domainXml(spec);
  assert.ok(!out.includes(`evil'name"<&>`));
  const parsed = new XMLParser({ ignoreAttributes: false }).parse(out) as {
    domain: {
      title: string;
      '@_type': string;
      devices: { interface: { target: { '@_dev': string }; driver: { host: { '@_csum': string } } } };
    };
  };
  assert.equal(parsed.domain.title, spec.title);
  assert.equal(parsed.domain['@_type'], 'qemu');
  assert.equal(parsed.domain.devices.interface.target['@_dev'], spec.nics[0].dev);
  // The guest completes its own checksums: the userspace datapath would forward them unfinished.
  assert.equal(parsed.domain.devices.interface.driver.host['@_csum'], 'off');
});

test('MACs and port names are stable, unicast and short enough for OVS', () => {
  assert.equal(macFor('t', 1), macFor('t', 1));
  assert.notEqual(macFor('t', 1), macFor('t', 2));
  assert.match(macFor('t', 1), /^52:54:00(:[0-9a-f]{2}){3}$/);
  assert.ok(devFor('t', 15).length <= 15);
});

test('seed documents quote hostile strings and refuse newlines', () => {
  const docs = seedDocuments({
    instanceId: 'i',
    hostname: 'h',
    password: 'p"\\q',
    nics: [],
    runcmd: ['echo "hi" \\ there'],
  });
  assert.match(docs['user-data'], /password: "p\\"\\\\q"/);
  assert.match(docs['user-data'], /  - "echo \\"hi\\" \\\\ there"/);
  assert.throws(() => seedDocuments({ instanceId: 'i', hostname: 'h', nics: [], runcmd: ['a\nb'] }));
});
