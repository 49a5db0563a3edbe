// The snapshot helpers with an in-memory libvirt and pool (test doubles; the lab run is
// test/system/snapshots.test.ts): what libvirt knows is saved beside the disk, forgotten before a move and
// redefined after it oldest first (a parent before its children), and a snapshot's state read from its XML.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ComputeContext } from './context.ts';
import type { Hypervisor } from './hypervisor.ts';
import type { Storage } from './storage.ts';
import {
  adoptSnapshots,
  deleteSnapshot,
  heldBy,
  releaseSnapshots,
  revertMismatch,
  takeSnapshot,
  takenRunning,
} from './snapshots.ts';
import type { VmRow } from './vms.ts';

const xml = (name: string, state: string, at: number) =>
  `<domainsnapshot><name>${name}</name><state>${state}</state><creationTime>${at}</creationTime>` +
  `<domain type='qemu'><name>d</name></domain></domainsnapshot>`;

const host = (name: string, address: string) => ({
  name,
  address,
  libvirt_uri: `qemu+ssh://${name}/system`,
  area: 'a',
  up: true,
  cpus: 2,
  memory: 1,
  domain_type: 'qemu',
  maintenance: false,
});
const HOSTS = { h1: host('h1', '10.0.0.1'), h2: host('h2', '10.0.0.2') };

function doubles() {
  /** libvirt's metadata per host URI: name -> XML, in definition order. */
  const known = new Map<string, Map<string, string>>([
    [HOSTS.h1.libvirt_uri, new Map()],
    [HOSTS.h2.libvirt_uri, new Map()],
  ]);
  const files = new Map<string, string>();
  const calls: string[] = [];
  let clock = 100;
  const hv: Partial<Hypervisor> = {
    snapshots: async (uri) => [...known.get(uri)!.keys()],
    snapshotCreate: async (uri, _d, s) => {
      if (!known.get(uri)!.has(s)) known.get(uri)!.set(s, xml(s, 'running', clock++));
    },
    snapshotRedefine: async (uri, _d, x) => {
      const name = /<name>(.*?)<\/name>/.exec(x)![1];
      calls.push(`redefine ${name}`);
      known.get(uri)!.set(name, x);
    },
    snapshotForget: async (uri, _d, s) => {
      calls.push(`forget ${s}`);
      known.get(uri)!.delete(s);
    },
    snapshotDelete: async (uri, _d, s) => void known.get(uri)!.delete(s),
  };
  const storage: Partial<Storage> = {
    writeVmFile: async (_a, _p, f, c) => void files.set(f, c),
    removeVmFile: async (_a, _p, f) => void files.delete(f),
    readVmFiles: async (_a, _p, dir, suffix) =>
      [...files]
        .filter(([f]) => f.startsWith(`${dir}/`) && f.endsWith(suffix))
        .map(([file, content]) => ({ file, content })),
  };
  const d = {
    hypervisor: hv as Hypervisor,
    storage: storage as Storage,
    snapshotMetadata: {
      xml: async (address: string, _uri: string, _d: string, s: string) =>
        known.get(address === HOSTS.h1.address ? HOSTS.h1.libvirt_uri : HOSTS.h2.libvirt_uri)!.get(s)!,
    },
    catalogue: {
      host: async (n: string) => HOSTS[n as keyof typeof HOSTS],
      pool: async () => ({ name: 'p', path: '/pool' }),
    },
  } as unknown as Pick<ComputeContext, 'catalogue' | 'hypervisor' | 'storage' | 'snapshotMetadata'>;
  const vm = { host: 'h1', pool: 'p', dir: '/pool/vms/kloudak-t', domain: 'kloudak-t' } as VmRow;
  return { d, vm, known, files, calls };
}

describe('VM snapshots on hosts', () => {
  test("a snapshot's XML is saved beside the disk; a move forgets it on one host and redefines it on the other", async () => {
    const { d, vm, known, files, calls } = doubles();
    const a = await takeSnapshot(d, vm, 'a');
    assert.equal(a.running, true);
    await takeSnapshot(d, vm, 'b');
    await takeSnapshot(d, vm, 'b'); // again: done
    assert.deepEqual([...files.keys()].sort(), [
      '/pool/vms/kloudak-t/snapshots/a.xml',
      '/pool/vms/kloudak-t/snapshots/b.xml',
    ]);
    assert.equal(await releaseSnapshots(d, vm, HOSTS.h1), 2);
    assert.deepEqual(calls, ['forget b', 'forget a'], 'newest first');
    assert.equal(known.get(HOSTS.h1.libvirt_uri)!.size, 0);
    // The files list in any order: the parent is still defined first.
    files.set('/pool/vms/kloudak-t/snapshots/a.xml', files.get('/pool/vms/kloudak-t/snapshots/a.xml')!);
    const moved = { ...vm, host: 'h2' };
    calls.length = 0;
    assert.equal(await adoptSnapshots(d, moved, HOSTS.h2), 2);
    assert.deepEqual(calls, ['redefine a', 'redefine b']);
    assert.equal(await adoptSnapshots(d, moved, HOSTS.h2), 0, 'known already: nothing to do');
    await deleteSnapshot(d, moved, 'a');
    await deleteSnapshot(d, moved, 'a'); // again: done
    assert.deepEqual([...known.get(HOSTS.h2.libvirt_uri)!.keys()], ['b']);
    assert.deepEqual([...files.keys()], ['/pool/vms/kloudak-t/snapshots/b.xml']);
  });

  test('names that could be options or paths are refused before virsh sees them', async () => {
    const { d, vm } = doubles();
    for (const bad of ['-x', '../x', 'a/b', '.x', ''])
      await assert.rejects(takeSnapshot(d, vm, bad), /refusing snapshot name/);
  });

  test("a snapshot's own state says whether it reverts running", () => {
    assert.equal(takenRunning(xml('a', 'running', 1)), true);
    assert.equal(takenRunning(xml('a', 'shutoff', 1)), false);
    assert.equal(
      takenRunning(xml('a', 'shutoff', 1).replace('<name>d</name>', '<state>running</state>')),
      false,
    );
  });

  test('a revert that would bring back another size or other NICs than the records say is refused', () => {
    // As libvirt writes a snapshot: its own fields, then the domain (memory in KiB).
    const snap =
      `<domainsnapshot><name>s</name><state>shutoff</state><creationTime>1</creationTime>` +
      `<memory snapshot='no'/><domain type='qemu'><name>d</name><memory unit='KiB'>98304</memory>` +
      `<currentMemory unit='KiB'>98304</currentMemory><vcpu placement='static'>1</vcpu><devices>` +
      `<interface type='bridge'><mac address='52:54:00:AA:00:01'/></interface>` +
      `<interface type='bridge'><mac address='52:54:00:aa:00:02'/></interface></devices></domain>` +
      `<inactiveDomain type='qemu'><devices><interface type='bridge'><mac address='52:54:00:aa:00:01'/>` +
      `</interface></devices></inactiveDomain></domainsnapshot>`;
    assert.deepEqual(heldBy(snap), {
      memoryMib: 96,
      vcpus: 1,
      macs: ['52:54:00:aa:00:01', '52:54:00:aa:00:02'],
    });
    const nic = (mac: string) => ({ mac, dev: 'x', bridge: 'b' }) as VmRow['nics'][number];
    const vm = { memory_mib: 96, vcpus: 1, nics: [nic('52:54:00:aa:00:02'), nic('52:54:00:aa:00:01')] };
    assert.equal(revertMismatch(vm, snap), undefined, 'the same VM reverts');
    assert.match(
      revertMismatch({ ...vm, memory_mib: 128 }, snap)!,
      /96 MiB and 1 vCPUs.*128 MiB and 1: resize/,
    );
    assert.match(revertMismatch({ ...vm, vcpus: 2 }, snap)!, /resize it back/);
    assert.match(revertMismatch({ ...vm, nics: vm.nics.slice(1) }, snap)!, /other NICs/);
  });
});
