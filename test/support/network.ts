// The network service's context for unit tests: a real network database (PGlite) and a switch kept in memory
// (a test double of the SwitchDriver role). test/system/isolation.test.ts shows the same on the lab's OVS.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../src/lib/db.ts';
import { createLogger } from '../../src/lib/log.ts';
import type { NetworkContext } from '../../src/network/context.ts';
import { networkMigrations } from '../../src/network/migrations.ts';
import {
  parseFlowLine,
  type FlowInfo,
  type InterfaceInfo,
  type PortInfo,
  type SwitchDriver,
} from '../../src/network/ovs.ts';
import type { PolicySource } from '../../src/network/secgroups.ts';
import type { NetworkDB } from '../../src/network/schema.ts';

/** One host's switch: private-br ports (tag, mark, link) and public-br interfaces and rules. */
export function memorySwitch() {
  const ports = new Map<string, PortInfo & { up: boolean }>();
  const ifaces: InterfaceInfo[] = [];
  let flows: FlowInfo[] = [];
  const drv: SwitchDriver = {
    async setPortTag(_a, port, vlan) {
      ports.get(port)!.tag = vlan;
    },
    async portTag(_a, port) {
      return ports.has(port) ? ports.get(port)!.tag : null;
    },
    async listPorts(_a, bridge) {
      assert.equal(bridge, 'private-br');
      return [...ports.values()].map(({ name, tag, quarantine }) => ({
        name,
        ...(tag !== undefined ? { tag } : {}),
        ...(quarantine !== undefined ? { quarantine } : {}),
      }));
    },
    async addInternalPort() {},
    async deletePort(_a, _b, port) {
      ports.delete(port);
    },
    async quarantinePort(_a, port, reason) {
      Object.assign(ports.get(port)!, { tag: 4095, quarantine: reason });
    },
    async releasePort(_a, port, vlan) {
      Object.assign(ports.get(port)!, { tag: vlan, quarantine: undefined });
    },
    async setPortLink(_a, _b, port, up) {
      ports.get(port)!.up = up;
    },
    // Interfaces (OpenFlow numbers) are kept for the public bridge only.
    async listInterfaces(_a, bridge) {
      return bridge === 'public-br' ? ifaces.map((i) => ({ ...i })) : [];
    },
    async addFlows(_a, _b, lines) {
      for (const l of lines) {
        const del = /^delete cookie=0x([0-9a-f]{16})\/-1$/.exec(l);
        if (del) flows = flows.filter((f) => f.cookie !== del[1]);
        else flows.push(parseFlowLine(l)!);
      }
    },
    async dumpFlows() {
      return flows.map((f) => ({ ...f }));
    },
    async deleteFlows(_a, _b, cookie, mask) {
      const m = BigInt(`0x${mask}`);
      flows = flows.filter((f) => (BigInt(`0x${f.cookie}`) & m) !== (BigInt(`0x${cookie}`) & m));
    },
  };
  return { drv, ports, ifaces, flows: () => flows };
}

/** A network service's context on one host h1 (10.0.0.1); `policy` stands for inventory's records. */
export async function networkTestContext(
  policy: PolicySource = { groups: async () => [], vms: async () => [] },
) {
  const dir = mkdtempSync(join(tmpdir(), 'kloudak-net-'));
  const database = await openDatabase<NetworkDB>({ dir, migrations: networkMigrations });
  const sw = memorySwitch();
  const told: { workspace: string; event: Record<string, unknown> }[] = [];
  const config = {
    PUBLIC_BRIDGE: 'public-br',
    PRIVATE_BRIDGE: 'private-br',
    VLANS: [[2, 4094]] as [number, number][],
    VLANS_RESERVED: [] as [number, number][],
    ORPHAN_GRACE: 3600,
    SG_PROBE_SOURCES: undefined,
  };
  const h1 = { name: 'h1', address: '10.0.0.1' };
  const ctx = {
    db: database.db,
    hosts: { all: async () => [h1], get: async (name: string) => (name === h1.name ? h1 : undefined) },
    ovs: sw.drv,
    policy,
    config,
    log: createLogger('test', 'silent'),
    notify: async (workspace: string, event: Record<string, unknown>) => void told.push({ workspace, event }),
  } as unknown as NetworkContext;
  return {
    ctx,
    sw,
    told,
    config,
    async close() {
      await database.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

type Row<T extends 'ports' | 'public_ports'> = NetworkDB[T];
/** A private port record: VM `v`'s NIC on host h1, VLAN 7 of network `n` of workspace `ws`, changed by `o`. */
export const portRecord = (o: Partial<Row<'ports'>> = {}): Row<'ports'> => ({
  host: 'h1',
  dev: 'kaaaaaaaan1',
  mac: '52:54:00:00:00:01',
  workspace: 'ws',
  vm: 'v',
  network: 'n',
  vlan: 7,
  task_id: 't',
  ...o,
});
/** VM `v`'s public port record on host h1, changed by `o`. */
export const publicPortRecord = (o: Partial<Row<'public_ports'>> = {}): Row<'public_ports'> => ({
  host: 'h1',
  dev: 'kaaaaaaaan0',
  mac: '52:54:00:00:00:02',
  ip: '10.0.1.2',
  workspace: 'ws',
  vm: 'v',
  task_id: 't',
  ...o,
});
