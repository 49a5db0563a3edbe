// Compute's placement through monitoring's RPC: monitoring's answer is used; `conflict` (no capacity) fails
// with monitoring's reason; no answer in time, or `unavailable`, falls back to compute's own placement.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Bus, Consumer } from '../../src/lib/bus/bus.ts';
import { createMemoryBus } from '../../src/lib/bus/memory.ts';
import { conflict, isAppError, unavailable } from '../../src/lib/errors.ts';
import { createLogger } from '../../src/lib/log.ts';
import type { Placement } from '../../src/compute/placement.ts';
import { createRpcPlacement } from '../../src/compute/rpc-placement.ts';

const log = createLogger('test', 'silent');
let bus: Bus;
const calls: string[] = [];
const local: Placement = {
  host: async () => (calls.push('local host'), 'local-h'),
  pool: async () => (calls.push('local pool'), 'local-p'),
};

before(async () => {
  bus = await createMemoryBus({ log });
});
after(async () => {
  await bus.close();
});

async function serving(answer: (body: Record<string, unknown>) => Promise<unknown>, fn: () => Promise<void>) {
  const cs: Consumer[] = [
    await bus.serveRpc('placement_host', answer),
    await bus.serveRpc('placement_pool', answer),
  ];
  try {
    await fn();
  } finally {
    for (const c of cs) await c.cancel();
  }
}

test('no monitoring answering within the timeout: compute places by itself, and stops asking for a while', async () => {
  calls.length = 0;
  const p = createRpcPlacement(bus, local, log, 0.3, 0.5);
  let t = Date.now();
  assert.equal(await p.host({ area: 'a', memoryMib: 64, vcpus: 1 }), 'local-h');
  assert.ok(Date.now() - t >= 290, 'waited for the timeout');
  t = Date.now();
  assert.equal(await p.pool({ area: 'a', sizeGib: 1 }), 'local-p');
  assert.ok(Date.now() - t < 100, 'did not wait again');
  assert.deepEqual(calls, ['local host', 'local pool']);
  await new Promise((r) => setTimeout(r, 600));
  t = Date.now();
  await p.host({ area: 'a', memoryMib: 64, vcpus: 1 });
  assert.ok(Date.now() - t >= 290, 'asks again after the quiet period');
});

test("monitoring's answer is used, and the request carries the exclusions", async () => {
  calls.length = 0;
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
  assert.deepEqual(seen[0], { area: 'a', memoryMib: 64, vcpus: 1, exclude: ['down-1'] });
});

test('no capacity is final: the conflict comes back with its reason; unavailable falls back', async () => {
  calls.length = 0;
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
