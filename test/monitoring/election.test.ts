// Issue 6 "Must show": three monitoring processes on a real ZooKeeper (with PostgreSQL and RabbitMQ, as a
// distributed deployment runs them): one leader; hosts split evenly among the three; SIGKILL the leader: a new
// leader within the ZooKeeper session timeout plus 5 s, and the hosts split evenly among the two left.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import zookeeper from 'node-zookeeper-client';
import { pgDatabaseUrl, TEST_AMQP, TEST_ZOOKEEPER, uniqueName } from '../support/env.ts';

const SESSION_TIMEOUT_S = 4;
const HOSTS = 10;

interface Proc {
  child: ChildProcess;
  id: string;
  events: any[];
}

function zkCall<T>(
  fn: (c: zookeeper.Client, cb: (e: Error | null, v: T) => void) => void,
  c: zookeeper.Client,
): Promise<T> {
  return new Promise((resolve, reject) => fn(c, (e, v) => (e ? reject(e) : resolve(v))));
}

async function withZk<T>(fn: (c: zookeeper.Client) => Promise<T>): Promise<T> {
  const c = zookeeper.createClient(TEST_ZOOKEEPER, { sessionTimeout: 5000 });
  const connected = new Promise<void>((resolve, reject) => {
    const t = setTimeout(
      () => reject(new Error(`ZooKeeper at ${TEST_ZOOKEEPER} unreachable (scripts/services.sh zookeeper)`)),
      10_000,
    );
    c.once('connected', () => (clearTimeout(t), resolve()));
  });
  c.connect();
  try {
    await connected;
    return await fn(c);
  } finally {
    c.close();
  }
}

async function until<T>(what: string, fn: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const even = (assignment: Record<string, number>) => {
  const n = Object.values(assignment);
  return Math.max(...n) - Math.min(...n) <= 1 && n.reduce((a, b) => a + b, 0) === HOSTS;
};

describe('monitoring election on ZooKeeper (three processes)', () => {
  const chroot = `/${uniqueName('kloudak-test')}`;
  const procs: Proc[] = [];
  const dataDir = mkdtempSync(join(tmpdir(), 'kloudak-mon-'));
  const db = pgDatabaseUrl('kmon');

  const start = async (): Promise<Proc> => {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env))
      if (v !== undefined && !k.startsWith('KLOUDAK_')) env[k] = v;
    Object.assign(env, {
      KLOUDAK_ZOOKEEPER: `${TEST_ZOOKEEPER}${chroot}`,
      KLOUDAK_ZK_SESSION_TIMEOUT: String(SESSION_TIMEOUT_S),
      KLOUDAK_BUS: TEST_AMQP,
      KLOUDAK_MONITOR_DB: db,
      KLOUDAK_DATA_DIR: dataDir,
      KLOUDAK_MONITOR_INTERVAL: '1',
      KLOUDAK_LOG_LEVEL: process.env.KLOUDAK_TEST_LOG ?? 'warn',
      MON_TEST_HOSTS: String(HOSTS),
    });
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/monitoring-proc.ts'], {
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const events: any[] = [];
    let buf = '';
    child.stdout.on('data', (b) => {
      buf += String(b);
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          events.push(JSON.parse(line));
        } catch {
          /* a log line */
        }
      }
    });
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (c) => reject(new Error(`monitoring process exited ${c}`))),
    );
    exited.catch(() => undefined);
    const ready = await Promise.race([
      until('ready', () => events.find((e) => e.event === 'ready'), 30_000),
      exited,
    ]);
    const p = { child, id: ready.id as string, events };
    procs.push(p);
    return p;
  };
  const isLeader = (p: Proc) => {
    const changes = p.events.filter((e) => e.event === 'ready' || e.event === 'leader');
    return changes.length > 0 && changes[changes.length - 1].leader === true;
  };
  const alive = () => procs.filter((p) => p.child.exitCode === null && p.child.signalCode === null);

  before(async () => {
    await withZk((c) => zkCall<string>((z, cb) => z.mkdirp(chroot, cb), c));
  });
  after(async () => {
    for (const p of procs) p.child.kill('SIGKILL');
    await withZk(async (c) => {
      // Ephemeral members go with their sessions; the chroot and its parents stay unless removed.
      const rm = async (path: string): Promise<void> => {
        const kids = await zkCall<string[]>((z, cb) => z.getChildren(path, cb), c).catch(() => []);
        for (const k of kids) await rm(`${path}/${k}`);
        await zkCall<null>((z, cb) => z.remove(path, -1, (e) => cb(e, null)), c).catch(() => undefined);
      };
      await rm(chroot);
    }).catch(() => undefined);
    // Each member's work queue (and the bus's dead-letter queue beside it) is durable on RabbitMQ: remove ours.
    const conn = await amqp.connect(TEST_AMQP).catch(() => undefined);
    if (conn) {
      const ch = await conn.createChannel();
      for (const p of procs)
        for (const q of [`monitor.${p.id}`, `monitor.${p.id}.dead`])
          await ch.deleteQueue(q).catch(() => undefined);
      await conn.close();
    }
  });

  test('one leader; hosts split evenly; SIGKILL of the leader: a new leader within the session timeout + 5 s', async (t) => {
    for (let i = 0; i < 3; i++) await start();
    // Exactly one leader (the first to join holds the lowest znode).
    await until('a leader', () => (alive().filter(isLeader).length === 1 ? true : undefined), 15_000);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(alive().filter(isLeader).length, 1, 'one leader');
    const leader = alive().find(isLeader)!;
    assert.equal(leader, procs[0], 'the first member (lowest sequence) leads');

    // A cycle of the leader over three members: 10 hosts as 4/3/3, every member reporting its share.
    const three = await until(
      'a cycle over three members',
      () =>
        leader.events.find(
          (e) =>
            e.event === 'cycle' &&
            e.members.length === 3 &&
            e.missing.length === 0 &&
            e.reported.length === 3,
        ),
      30_000,
    );
    assert.ok(even(three.assignment), `even split: ${JSON.stringify(three.assignment)}`);
    assert.deepEqual(Object.keys(three.assignment).sort(), procs.map((p) => p.id).sort());

    const killedAt = Date.now();
    leader.child.kill('SIGKILL');
    await new Promise((r) => leader.child.once('exit', r));
    const next = await until('a new leader', () => alive().find(isLeader), (SESSION_TIMEOUT_S + 5) * 1000);
    const tookMs = Date.now() - killedAt;
    assert.ok(tookMs <= (SESSION_TIMEOUT_S + 5) * 1000, `new leader after ${tookMs} ms`);
    assert.equal(next, procs[1], 'the next member in line takes over');
    assert.equal(alive().filter(isLeader).length, 1, 'still one leader');

    // The new leader splits the hosts between the two members left: 5/5.
    const two = await until(
      'a cycle over two members',
      () =>
        next.events.find(
          (e) =>
            e.event === 'cycle' &&
            e.members.length === 2 &&
            e.missing.length === 0 &&
            e.reported.length === 2,
        ),
      30_000,
    );
    assert.ok(even(two.assignment), `even split: ${JSON.stringify(two.assignment)}`);
    assert.ok(!Object.keys(two.assignment).includes(leader.id), 'the dead member gets nothing');
    t.diagnostic(`new leader ${tookMs} ms after SIGKILL (session timeout ${SESSION_TIMEOUT_S} s)`);

    // A member joining is given its share at the next cycle.
    const fourth = await start();
    const rebalanced = await until(
      'a cycle over three members again',
      () =>
        next.events.find(
          (e) =>
            e.event === 'cycle' &&
            e.members.includes(fourth.id) &&
            e.missing.length === 0 &&
            e.reported.length === 3,
        ),
      30_000,
    );
    assert.ok(even(rebalanced.assignment), `even split: ${JSON.stringify(rebalanced.assignment)}`);
  });
});
