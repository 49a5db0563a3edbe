// Network tasks against a real network database (PGlite) and a switch kept in memory (test/support/network.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { networkTestContext, portRecord, publicPortRecord } from '../../test/support/network.ts';
import type { PolicySource } from './secgroups.ts';
import { networkTasks } from './tasks.ts';

const common = () => ({ task_id: randomUUID(), owner: 'ws', retries: 0, attempt: 1 });
const vmRecord = (name: string) => ({ name, ip: null, state: 'U', security_groups: [], interfaces: [] });

/** Inventory's VMs of the workspace, changed by the test. */
function inventory(names: string[]): PolicySource & { names: string[] } {
  return { names, groups: async () => [], vms: async () => names.map(vmRecord) };
}

async function withNetwork(vms: string[]) {
  const policy = inventory(vms);
  const t = await networkTestContext(policy);
  await t.ctx.db
    .insertInto('networks')
    .values({ workspace: 'ws', name: 'n', vlan: 7, subnet: null, task_id: 't' })
    .execute();
  const record = (dev: string, vm: string, host = 'h1') =>
    t.ctx.db.insertInto('ports').values(portRecord({ host, dev, vm })).execute();
  const remove = () =>
    networkTasks['network DELETE'](
      { ...common(), type: 'network', method: 'DELETE', name: 'n', vlan: 7 },
      t.ctx,
    );
  const networks = async () =>
    (await t.ctx.db.selectFrom('networks').select('name').execute()).map((n) => n.name);
  const records = async () => (await t.ctx.db.selectFrom('ports').select('dev').execute()).map((p) => p.dev);
  return { ...t, policy, record, remove, networks, records };
}

test('a network delete removes left-over port records of VMs that are gone, and refuses for live ones', async () => {
  const t = await withNetwork(['live-vm']);
  try {
    // A VM inventory still has (stopped: no port on the switch) keeps the network.
    await t.record('kaaaaaaaan1', 'live-vm');
    await assert.rejects(t.remove(), /still has a port of VM live-vm/);
    assert.deepEqual(await t.networks(), ['n']);

    // A NIC on the switch keeps it too, whatever inventory says (a rolled-back create's ports still going).
    t.policy.names.length = 0;
    t.sw.ports.set('kaaaaaaaan1', { name: 'kaaaaaaaan1', tag: 7, up: true });
    await assert.rejects(t.remove(), /still has a port of VM live-vm/);
    assert.deepEqual(await t.records(), ['kaaaaaaaan1']);

    // Gone from inventory and from the switch: a left-over, removed with the network. So is the record of a
    // port on a host since removed from the catalogue (nothing of it can be on a switch we manage).
    t.sw.ports.delete('kaaaaaaaan1');
    await t.record('kbbbbbbbbn1', 'gone-vm');
    await t.record('kccccccccn1', 'gone-too', 'removed-host');
    await t.remove();
    assert.deepEqual(await t.networks(), []);
    assert.deepEqual(await t.records(), []);
  } finally {
    await t.close();
  }
});

test('a renamed VM: its port records take the new name (security groups find members by it)', async () => {
  const t = await withNetwork(['new-name']);
  try {
    await t.record('kaaaaaaaan1', 'old-name');
    await t.ctx.db
      .insertInto('public_ports')
      .values(publicPortRecord({ vm: 'old-name' }))
      .execute();
    await networkTasks['vm PUT'](
      {
        ...common(),
        type: 'vm',
        method: 'PUT',
        name: 'old-name',
        host: 'h1',
        interfaces: [],
        removed: [],
        renamed_to: 'new-name',
      },
      t.ctx,
    );
    for (const table of ['ports', 'public_ports'] as const)
      assert.deepEqual(
        (await t.ctx.db.selectFrom(table).select('vm').execute()).map((r) => r.vm),
        ['new-name'],
        table,
      );
  } finally {
    await t.close();
  }
});
