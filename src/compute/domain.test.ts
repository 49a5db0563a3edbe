import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XMLParser } from 'fast-xml-parser';
import { devFor, domainXml, macFor, nicXml, requireVlans } from './domain.ts';
import { parse } from 'yaml';
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
      devices: {
        interface: { target: { '@_dev': string }; driver: { host: { '@_csum': string } } };
        serial: { '@_type': string; log: { '@_file': string; '@_append': string } };
      };
    };
  };
  assert.equal(parsed.domain.title, spec.title);
  assert.equal(parsed.domain['@_type'], 'qemu');
  assert.equal(parsed.domain.devices.interface.target['@_dev'], spec.nics[0].dev);
  // The guest completes its own checksums: the userspace datapath would forward them unfinished.
  assert.equal(parsed.domain.devices.interface.driver.host['@_csum'], 'off');
  // An interactive console (a pty) whose output is logged on the pool, appended across restarts and moves.
  assert.equal(parsed.domain.devices.serial['@_type'], 'pty');
  assert.deepEqual(parsed.domain.devices.serial.log, { '@_file': spec.console, '@_append': 'on' });
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
  const user = parse(docs['user-data']) as Record<string, unknown>;
  assert.equal(user.password, 'p"\\q');
  assert.deepEqual(user.runcmd, ['echo "hi" \\ there']);
  assert.throws(() => seedDocuments({ instanceId: 'i', hostname: 'h', nics: [], runcmd: ['a\nb'] }));
});

test('a private NIC is plugged with its VLAN in the XML, and refused without one', () => {
  const priv = { mac: macFor('x', 1), bridge: 'private-br', dev: devFor('x', 1), network: 'n1', vlan: 42 };
  const out = domainXml({ ...spec, nics: [...spec.nics, priv] });
  type Iface = { vlan?: { tag: { '@_id': string } } };
  const parsed = new XMLParser({ ignoreAttributes: false }).parse(out) as {
    domain: { devices: { interface: [Iface, Iface] } };
  };
  const [pub, nic] = parsed.domain.devices.interface;
  assert.equal(pub.vlan, undefined, 'the public NIC has no VLAN');
  assert.equal(nic.vlan?.tag['@_id'], '42');
  assert.match(nicXml(priv), /<vlan><tag id='42'\/><\/vlan>/, 'hot-plug XML carries it too');
  for (const vlan of [undefined, 0, 4095, 1.5])
    assert.throws(
      () => domainXml({ ...spec, nics: [...spec.nics, { ...priv, vlan }] }),
      /no valid VLAN/,
      String(vlan),
    );
  assert.throws(() => requireVlans([{ ...priv, vlan: undefined }]), /no valid VLAN/);
});
