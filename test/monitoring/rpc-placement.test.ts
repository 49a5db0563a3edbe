// Compute's placement through monitoring's RPC: monitoring's answer is used; `conflict` (no capacity) fails
// with monitoring's reason; no answer in time, or `unavailable`, falls back to compute's own placement.
import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bus, Consumer } from '../../src/lib/bus/bus.ts';
import { createMemoryBus } from '../../src/lib/bus/memory.ts';
import { conflict, isAppError, unavailable } from '../../src/lib/errors.ts';
import { createLogger } from '../../src/lib/log.ts';
import type { Placement } from '../../src/compute/placement.ts';
import { createRpcPlacement } from '../../src/compute/rpc-placement.ts';

const log = createLogger('test', 'silent');
const calls: string[] = [];
const local: Placement = {
  host: async () => (calls.push('local host'), 'local-h'),
  pool: async () => (calls.push('local pool'), 'local-p'),
  room: async () => void calls.push('local room'),
};

// Each test gets its own broker (a journal directory of its own), so no request of one test, nor a consumer
// it left, can reach the next one; the RPC requests themselves are also withdrawn when their caller gives up.
let bus: Bus;
let dir: string;
beforeEach(async () => {
  calls.length = 0;
  dir = await mkdtemp(join(tmpdir(), 'kloudak-rpc-placement-'));
  bus = await createMemoryBus({ log, journalDir: dir });
});
afterEach(async () => {
  await bus.close();
  await rm(dir, { recursive: true, force: true });
});

async function serving(answer: (body: Record<string, unknown>) => Promise<unknown>, fn: () => Promise<void>) {
  const cs: Consumer[] = [
    await bus.serveRpc<string>('placement_host', answer),
    await bus.serveRpc<string>('placement_pool', answer),
  ];
  try {
    await fn();
  } finally {
    for (const c of cs) await c.cancel();
  }
}

/** The bus, counting the RPC requests sent through it. */
function counting(b: Bus): Bus & { asked: string[] } {
  const asked: string[] = [];
  return { ...b, asked, rpc: (queue, body, o) => (asked.push(queue), b.rpc(queue, body, o)) };
}

test('no monitoring answering within the timeout: compute places by itself, and stops asking for a while', async () => {
  const b = counting(bus);
  const p = createRpcPlacement(b, local, log, 0.3, 0.5);
  assert.equal(await p.host({ area: 'a', memoryMib: 64, vcpus: 1 }), 'local-h');
  assert.deepEqual(b.asked, ['placement_host'], 'asked monitoring first');
  assert.equal(await p.pool({ area: 'a', sizeGib: 1 }), 'local-p');
  assert.deepEqual(b.asked, ['placement_host'], 'did not ask again within the quiet period');
  assert.deepEqual(calls, ['local host', 'local pool']);
  await new Promise((r) => setTimeout(r, 800)); // well past the 0.5 s quiet period
  assert.equal(await p.host({ area: 'a', memoryMib: 64, vcpus: 1 }), 'local-h');
  assert.deepEqual(b.asked, ['placement_host', 'placement_host'], 'asks again after the quiet period');
});

test("monitoring's answer is used, and the request carries the exclusions", async () => {
  const seen: Record<string, unknown>[] = [];
  await serving(
    async (b) => {
      seen.push(b);
      return 'sizeGib' in b ? { pool: 'm-p' } : { host: 'm-h' };
    },
    async () => {
      const p = createRpcPlacement(bus, local, log, 2);
      assert.equal(await p.host({ area: 'a', memoryMib: 64, vcpus: 1, exclude: ['down-1'] }), 'm-h');
      assert.equal(await p.pool({ area: 'a', sizeGib: 1 }), 'm-p');
    },
  );
  assert.deepEqual(calls, []);
  assert.deepEqual(seen, [
    { area: 'a', memoryMib: 64, vcpus: 1, exclude: ['down-1'] },
    { area: 'a', sizeGib: 1 },
  ]);
});

test('no capacity is final: the conflict comes back with its reason; unavailable falls back', async () => {
  await serving(
    async () => {
      throw conflict('area', 'no host in area a has 65536 MiB and 1 vCPU free');
    },
    async () => {
      const p = createRpcPlacement(bus, local, log, 2);
      const e = await p.host({ area: 'a', memoryMib: 65536, vcpus: 1 }).then(
        () => undefined,
        (x: unknown) => x,
      );
      assert.ok(isAppError(e) && e.kind === 'conflict');
      assert.equal(e.message, 'no host in area a has 65536 MiB and 1 vCPU free');
    },
  );
  await serving(
    async () => {
      throw unavailable('monitoring has not checked the hosts of area a yet');
    },
    async () => {
      assert.equal(
        await createRpcPlacement(bus, local, log, 2).host({ area: 'a', memoryMib: 64, vcpus: 1 }),
        'local-h',
      );
    },
  );
  assert.deepEqual(calls, ['local host']);
});

test("a resize's room: monitoring is asked for the growth of a running VM on its own host only", async () => {
  const seen: Record<string, unknown>[] = [];
  await serving(
    async (b) => {
      seen.push(b);
      if (Number(b.memoryMib) > 100)
        throw conflict('area', 'no host of h1 in area a has 160 MiB and 0 vCPU free');
      return { host: 'h1' };
    },
    async () => {
      const p = createRpcPlacement(bus, local, log, 2);
      const held = { memoryMib: 96, vcpus: 1, running: true };
      await p.room({ area: 'a', host: 'h1', memoryMib: 128, vcpus: 2, held });
      // Shrinking needs no room: monitoring is not asked.
      await p.room({ area: 'a', host: 'h1', memoryMib: 64, vcpus: 1, held });
      // A stopped VM is not counted by monitoring: it must fit whole.
      const e = await p
        .room({ area: 'a', host: 'h1', memoryMib: 160, vcpus: 1, held: { ...held, running: false } })
        .then(
          () => undefined,
          (x: unknown) => x,
        );
      assert.ok(isAppError(e) && e.kind === 'conflict', String(e));
    },
  );
  assert.deepEqual(seen, [
    { area: 'a', memoryMib: 32, vcpus: 1, only: ['h1'] },
    { area: 'a', memoryMib: 160, vcpus: 1, only: ['h1'] },
  ]);
  assert.deepEqual(calls, [], 'compute did not decide alone');
});
