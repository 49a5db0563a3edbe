// The in-process bus beyond the shared contract (test/bus): prefetch, round robin, closing, and above all the
// journal: what a publish promised survives a close, a SIGKILL, and a torn last line.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { AppError } from '../errors.ts';
import { createLogger } from '../log.ts';
import type { Delivery } from './bus.ts';
import { createMemoryBus } from './memory.ts';

const log = createLogger('bus-test', process.env.LOG_LEVEL ?? 'silent');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const never = () => new Promise<void>(() => undefined);
const dirs: string[] = [];
const tempDir = async () => {
  const d = await mkdtemp(join(tmpdir(), 'kloudak-bus-'));
  dirs.push(d);
  return d;
};
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

async function waitFor(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

void describe('memory bus', () => {
  void test('prefetch bounds what one consumer holds; the rest waits in the queue', async () => {
    const bus = await createMemoryBus({ log });
    const held: unknown[] = [];
    await bus.consume(
      'q',
      async (d) => {
        held.push(d.body.n);
        await never();
      },
      { prefetch: 2 },
    );
    for (let n = 0; n < 5; n++) await bus.publish('q', { n });
    await sleep(50);
    assert.deepEqual(held, [0, 1]);
    assert.equal(await bus.depth('q'), 3);
    await bus.close();
  });

  void test('consumers take turns (round robin)', async () => {
    const bus = await createMemoryBus({ log });
    const order: string[] = [];
    for (const who of ['a', 'b']) await bus.consume('rr', async () => void order.push(who));
    for (let n = 0; n < 4; n++) await bus.publish('rr', { n });
    await waitFor('4 deliveries', () => order.length === 4);
    assert.deepEqual(order, ['a', 'b', 'a', 'b']);
    await bus.close();
  });

  void test('buses of one process share queues; closing one returns what it held', async () => {
    const a = await createMemoryBus({ log });
    const b = await createMemoryBus({ log });
    const got: Delivery[] = [];
    await a.consume('shared', never);
    await b.publish('shared', { n: 1 });
    await sleep(20);
    await b.consume('shared', async (d) => void got.push(d));
    await a.close();
    await waitFor('redelivery', () => got.length === 1);
    assert.equal(got[0].redelivered, true);
    await assert.rejects(a.publish('shared', {}), { name: 'AppError', kind: 'unavailable' });
    await b.close();
  });

  void test('close fails pending rpc calls at once', async () => {
    const bus = await createMemoryBus({ log });
    const call = bus.rpc('nobody', {}, { timeout: 30 });
    await sleep(10);
    await bus.close();
    await assert.rejects(call, (e: unknown) => e instanceof AppError && e.message === 'bus closed');
  });
});

void describe('memory bus journal', () => {
  void test('unacked messages survive a restart, redelivered, in order; acked ones do not', async () => {
    const dir = await tempDir();
    const one = await createMemoryBus({ journalDir: dir, log });
    for (let n = 0; n < 4; n++) await one.publish('jobs', { n }, { requestId: `r${n}`, messageId: `m${n}` });
    const seen: unknown[] = [];
    await one.consume('jobs', async (d) => {
      seen.push(d.body.n);
      if (d.body.n === 1) await never(); // holds 1 when the "process" stops
    });
    await waitFor('two deliveries', () => seen.length === 2);
    await one.close();

    const two = await createMemoryBus({ journalDir: dir, log });
    assert.equal(await two.depth('jobs'), 3);
    const got: Delivery[] = [];
    await two.consume('jobs', async (d) => void got.push(d), { prefetch: 10 });
    await waitFor('replayed messages', () => got.length === 3);
    assert.deepEqual(
      got.map((d) => [d.body.n, d.redelivered, d.requestId, d.messageId]),
      [1, 2, 3].map((n) => [n, true, `r${n}`, `m${n}`]),
    );
    await two.close();

    const three = await createMemoryBus({ journalDir: dir, log });
    assert.equal(await three.depth('jobs'), 0, 'acks are journaled too');
    await three.close();
    assert.equal(await readFile(join(dir, 'jobs.jsonl'), 'utf8'), '', 'compacted on start');
  });

  void test('a published message survives SIGKILL of its process', async () => {
    const dir = await tempDir();
    const script = join(dir, 'child.mts'); // .mts: an ES module wherever it sits;
    const memory = pathToFileURL(join(import.meta.dirname, 'memory.ts')).href;
    const logMod = pathToFileURL(join(import.meta.dirname, '..', 'log.ts')).href;
    await writeFile(
      script,
      `import { createMemoryBus } from '${memory}';
       import { createLogger } from '${logMod}';
       const bus = await createMemoryBus({ journalDir: ${JSON.stringify(dir)}, log: createLogger('child', 'silent') });
       for (let n = 0; n < 3; n++) await bus.publish('task', { n });
       await bus.consume('task', async (d) => {
         if (d.body.n === 0) return;
         process.stdout.write('holding\\n');
         await new Promise(() => {});
       });
       setInterval(() => {}, 1000);`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (b: Buffer) => b.toString().includes('holding') && resolve());
      child.on('exit', (code) => reject(new Error(`child exited ${code}`)));
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));

    const bus = await createMemoryBus({ journalDir: dir, log });
    const got: Delivery[] = [];
    await bus.consume('task', async (d) => void got.push(d), { prefetch: 10 });
    await waitFor('replayed messages', () => got.length === 2);
    assert.deepEqual(
      got.map((d) => [d.body.n, d.redelivered]),
      [
        [1, true],
        [2, true],
      ],
    );
    await bus.close();
  });

  void test('a torn last line (crash mid-write) is skipped, not fatal', async () => {
    const dir = await tempDir();
    const one = await createMemoryBus({ journalDir: dir, log });
    await one.publish('odd/name', { n: 1 });
    await one.close();
    await appendFile(join(dir, `${encodeURIComponent('odd/name')}.jsonl`), '{"op":"pub","id":"x","cont');
    const two = await createMemoryBus({ journalDir: dir, log });
    assert.equal(await two.depth('odd/name'), 1);
    await two.close();
  });

  void test('dead letters are durable; rpc requests are not journaled', async () => {
    const dir = await tempDir();
    const one = await createMemoryBus({ journalDir: dir, log });
    await one.publishRaw('net', 'not json');
    await one.consume('net', async () => undefined);
    await assert.rejects(
      one.rpc('placement_host', { area: 'a', memoryMib: 64, vcpus: 1 }, { timeout: 0.05 }),
      {
        kind: 'unavailable',
      },
    );
    await sleep(20);
    assert.equal(await one.depth('net.dead'), 1);
    await one.close();
    const two = await createMemoryBus({ journalDir: dir, log });
    assert.equal(await two.depth('net.dead'), 1);
    assert.equal(await two.depth('net'), 0);
    assert.equal(await two.depth('placement_host'), 0);
    await two.close();
  });
});
