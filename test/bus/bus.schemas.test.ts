// Every queue of the contract (src/lib/contracts/messages.ts), on both buses: a message of the wrong shape
// goes to `<queue>.dead` with the schema's complaint and never reaches the handler, while a message of the
// right shape behind it does. RPC queues also answer the caller `input`, naming the field. On RabbitMQ the
// queues live in a virtual host of this run, so the real queue names cannot meet another run's.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createAmqpBus } from '../../src/lib/bus/amqp.ts';
import type { Bus, Delivery } from '../../src/lib/bus/bus.ts';
import { createMemoryBus } from '../../src/lib/bus/memory.ts';
import {
  monitorQueue,
  QUEUE_MESSAGES,
  RPC_MESSAGES,
  type MessageOf,
  type RpcRequestOf,
} from '../../src/lib/contracts/messages.ts';
import { AppError } from '../../src/lib/errors.ts';
import { run } from '../../src/lib/exec.ts';
import { createLogger } from '../../src/lib/log.ts';
import { TEST_AMQP, uniqueName } from '../support/env.ts';

const log = createLogger('bus-schemas-test', process.env.LOG_LEVEL ?? 'silent');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const task = { task_id: 't-1', owner: 'ws', name: 'web', retries: 0, attempt: 1 };
const spent = { rollback: true as const, error: 'disk exploded', failed_stage: 'C_D' };
const vmDelete = {
  ...task,
  type: 'vm' as const,
  method: 'DELETE' as const,
  ip: null,
  area: 'a1',
  host: null,
  networks: [],
  interfaces: [],
};
const routerCreate = { ...task, type: 'router' as const, method: 'POST' as const };
const workspaceDelete = { ...task, type: 'workspace' as const, method: 'DELETE' as const };
const at = new Date().toISOString();

/** Per work queue: a message of its shape, one not of it, and the complaint the schema makes of that one. */
const WORK: { [Q in keyof typeof QUEUE_MESSAGES]: { good: MessageOf<Q>; bad: object; complaint: string } } = {
  vm: { good: vmDelete, bad: { ...vmDelete, host: undefined }, complaint: 'host is required' },
  vm_rollback: { good: { ...vmDelete, ...spent }, bad: vmDelete, complaint: 'rollback is required' },
  network: { good: routerCreate, bad: { ...routerCreate, evil: 1 }, complaint: 'evil is not a known field' },
  network_rollback: {
    good: { ...routerCreate, ...spent },
    bad: { ...routerCreate, ...spent, method: 'PATCH' },
    complaint: 'method must be one of POST, DELETE for type router on the network_rollback queue',
  },
  workspace: {
    good: workspaceDelete,
    bad: { ...workspaceDelete, method: 'POST' },
    complaint: 'method must be one of DELETE for type workspace on the workspace queue',
  },
  workspace_rollback: {
    good: { ...workspaceDelete, ...spent },
    bad: { ...workspaceDelete, ...spent, failed_stage: 1 },
    complaint: 'failed_stage must be string',
  },
  workspace_notification: {
    good: { task_id: 't-1', status: 'successful', from: 'controller' },
    bad: { task_id: 't-1', status: 'successful', from: 'me' },
    complaint: 'from must be one of compute, network, controller',
  },
  vm_notification: {
    good: { task_id: 't-1', status: 'successful' },
    bad: { task_id: 't-1', status: 'done' },
    complaint: 'status must be one of successful, failed, progress',
  },
  network_notification: {
    good: { task_id: 't-1', status: 'failed', error: 'no VLAN left' },
    bad: { status: 'failed' },
    complaint: 'task_id is required',
  },
  host_failure: {
    good: { host: 'h1', area: 'a1', at },
    bad: { host: 'h1', area: 'a1' },
    complaint: 'at is required',
  },
  host_up: {
    good: { host: 'h1', area: 'a1', at },
    bad: { host: 'h 1', area: 'a1', at },
    complaint: 'host must match pattern "^(?!\\.{1,2}$)[A-Za-z0-9_.-]{1,64}$"',
  },
};

/** Per RPC queue: a request of its shape, its answer, and a request not of it with the field at fault. */
const RPC: { [Q in keyof typeof RPC_MESSAGES]: { good: RpcRequestOf<Q>; bad: object; field: string } } = {
  placement_host: {
    good: { area: 'a1', memoryMib: 64, vcpus: 1 },
    bad: { area: 'a1', memoryMib: -1, vcpus: 1 },
    field: 'memoryMib',
  },
  placement_pool: { good: { area: 'a1', sizeGib: 1 }, bad: { area: 'a1' }, field: 'sizeGib' },
  vm_room: {
    good: { owner: 'ws', name: 'vm', vcpus: 2, memoryMib: 256 },
    bad: { owner: 'ws', name: 'vm', vcpus: 0, memoryMib: 256 },
    field: 'vcpus',
  },
  ports_prepare: {
    good: {
      task_id: 'migrate-t-1',
      type: 'vm',
      method: 'POST',
      owner: 'w1',
      name: 'v1',
      retries: 0,
      attempt: 1,
      host: 'h1',
      interfaces: [],
    },
    bad: {
      task_id: 'migrate-t-1',
      type: 'vm',
      method: 'POST',
      owner: 'w1',
      name: 'v1',
      retries: 0,
      attempt: 1,
    },
    field: 'host',
  },
};
const ANSWERS = {
  placement_host: { host: 'h1' },
  placement_pool: { pool: 'p1' },
  vm_room: { host: 'h1' },
  ports_prepare: { interfaces: [] },
} as const;

/** Reads what lands in `<queue>.dead`: body and reason. */
async function deadLetters(bus: Bus, queue: string) {
  const got: Delivery[] = [];
  const c = await bus.consume<string>(`${queue}.dead`, async (d) => void got.push(d));
  return { got, stop: () => c.cancel() };
}

const impls: {
  name: string;
  open: () => Promise<Bus & { close(): Promise<void> }>;
  setup?: () => Promise<() => Promise<void>>;
}[] = [];
let vhost = '';
impls.push({ name: 'memory', open: () => createMemoryBus({ log, redeliveryDelayMs: 50 }) });
impls.push({
  name: 'amqp',
  open: () => createAmqpBus({ url: `${TEST_AMQP}/${vhost}`, log, redeliveryDelayMs: 50, timeoutMs: 5000 }),
  setup: async () => {
    vhost = uniqueName('kloudak-schemas');
    await run('rabbitmqctl', ['-q', 'add_vhost', vhost], { timeoutMs: 30_000 });
    await run('rabbitmqctl', ['-q', 'set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*'], {
      timeoutMs: 30_000,
    });
    return async () => void (await run('rabbitmqctl', ['-q', 'delete_vhost', vhost], { timeoutMs: 30_000 }));
  },
});

for (const impl of impls) {
  void describe(`bus schemas: ${impl.name}`, { timeout: 120_000 }, () => {
    let bus: Bus & { close(): Promise<void> };
    let teardown: (() => Promise<void>) | undefined;
    before(async () => {
      teardown = await impl.setup?.();
      bus = await impl.open();
    });
    after(async () => {
      await bus?.close();
      await teardown?.();
    });

    for (const [queue, { good, bad, complaint }] of Object.entries(WORK)) {
      void test(`${queue}: a wrong shape is dead-lettered with the complaint; the handler sees only the right one`, async () => {
        const handled: unknown[] = [];
        const c = await bus.consume<string>(queue, async (d) => void handled.push(d.body));
        const dead = await deadLetters(bus, queue);
        try {
          await bus.publish<string>(queue, { ...bad });
          await bus.publish<string>(queue, { ...good });
          await waitFor('the right message to be handled', () => handled.length === 1);
          await waitFor('the dead letter', () => dead.got.length === 1);
          assert.deepEqual(handled, [good], 'the handler never saw the wrong one');
          assert.deepEqual(dead.got[0].body, JSON.parse(JSON.stringify(bad)));
          assert.equal(dead.got[0].deadReason, complaint);
          await sleep(100);
          assert.equal(handled.length, 1, 'and it was not retried');
        } finally {
          await dead.stop();
          await c.cancel();
        }
      });
    }

    const rpcs = [
      ...Object.entries(RPC).map(([queue, r]) => ({
        queue,
        ...r,
        answer: ANSWERS[queue as keyof typeof ANSWERS],
      })),
      {
        queue: monitorQueue(uniqueName('member')),
        good: { cycle: 1, leader: 'm1', hosts: [], pools: [] },
        bad: { cycle: 1, hosts: [], pools: [] },
        field: 'leader',
        answer: { member: 'm2', hosts: 0, failed: 0, pools: 0, ms: 1 },
      },
    ];
    for (const { queue, good, bad, field, answer } of rpcs) {
      void test(`${queue.startsWith('monitor.') ? 'monitor.<member>' : queue}: a wrong request is answered input and dead-lettered; the server sees only the right one`, async () => {
        const served: unknown[] = [];
        const s = await bus.serveRpc<string>(queue, async (body) => (served.push(body), answer));
        const dead = await deadLetters(bus, queue);
        try {
          await assert.rejects(bus.rpc<string>(queue, { ...bad }, { timeout: 5 }), (e: unknown) => {
            assert.ok(e instanceof AppError, String(e));
            assert.equal(e.kind, 'input');
            assert.equal(e.field, field);
            assert.match(e.message, new RegExp(`^${field} `));
            return true;
          });
          assert.deepEqual(await bus.rpc<string>(queue, { ...good }, { timeout: 5 }), answer);
          assert.deepEqual(served, [good]);
          await waitFor('the dead letter', () => dead.got.length === 1);
          assert.deepEqual(dead.got[0].body, bad);
          assert.match(String(dead.got[0].deadReason), new RegExp(`^${field} `));
        } finally {
          await dead.stop();
          await s.cancel();
        }
      });
    }

    void test("an answer not of the queue's reply shape reaches the caller as unavailable, not as a value", async () => {
      const s = await bus.serveRpc<string>('placement_pool', async () => ({ pool: '' }));
      try {
        await assert.rejects(bus.rpc('placement_pool', { area: 'a1', sizeGib: 1 }, { timeout: 5 }), {
          kind: 'unavailable',
        });
      } finally {
        await s.cancel();
      }
    });
  });
}
