// Shared helpers of the benchmarks (not a benchmark itself; bench/run.ts skips it): the output line, medians,
// cleanup that also runs when the runner's time limit stops a bench, a private RabbitMQ vhost and throwaway
// PostgreSQL databases, so a bench never touches the queues or data of tests running beside it.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import pg from 'pg';
import { TEST_AMQP, TEST_PG } from '../test/support/env.ts';

const exec = promisify(execFile);

/** One figure, as every bench prints it: a JSON line on stdout that bench/run.ts collects. The Kloudak and
 * baseline values are medians of their samples; min, max and samples (the count) say how they spread. */
export interface Figure {
  figure: string;
  kloudak: number | null;
  baseline: number | null;
  ratio: number | null;
  unit: string;
  [extra: string]: unknown;
}

/** Median, min, max and count of samples. */
export function stats(xs: number[]) {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length };
}

/**
 * Prints one figure. Give `samples` (and `baselineSamples`) to have the median printed with min, max and the
 * count (every figure of the report rests on at least 5); `digits` rounds them. `target` says what the issue
 * asks of the ratio (or of the value, with `targetOf: 'kloudak'`), e.g. '>= 0.25'; run.ts says whether it is met.
 */
export function emit(f: {
  figure: string;
  kloudak?: number | null;
  baseline?: number | null;
  ratio?: number | null;
  unit: string;
  /** The samples, or (with min and max given) their count. */
  samples?: number[] | number;
  baselineSamples?: number[];
  digits?: number;
  target?: string;
  targetOf?: 'ratio' | 'kloudak';
  [extra: string]: unknown;
}): void {
  const { samples: given, baselineSamples, digits = 1, ...rest } = f;
  const samples = Array.isArray(given) ? given : undefined;
  if (typeof given === 'number') rest.samples = given;
  const r = (x: number) => round(x, digits);
  const k = samples?.length ? stats(samples) : undefined;
  const b = baselineSamples?.length ? stats(baselineSamples) : undefined;
  const kloudak = f.kloudak !== undefined ? f.kloudak : k ? r(k.median) : null;
  const baseline = f.baseline !== undefined ? f.baseline : b ? r(b.median) : null;
  const ratio =
    f.ratio !== undefined ? f.ratio : kloudak !== null && baseline ? round(kloudak / baseline, 3) : null;
  console.log(
    JSON.stringify({
      ...rest,
      kloudak,
      baseline,
      ratio,
      ...(k ? { min: r(k.min), max: r(k.max), samples: k.n } : {}),
      ...(b ? { baseline_min: r(b.min), baseline_max: r(b.max), baseline_samples: b.n } : {}),
    }),
  );
}

/** Progress on stderr (the runner shows it; stdout carries only figures). */
export function note(line: string): void {
  process.stderr.write(`${line}\n`);
}

export const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function median(xs: number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function percentile(xs: number[], q: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

// ---- cleanup, also on SIGTERM/SIGINT (the runner's time limit) ----

const cleanups: { what: string; fn: () => Promise<unknown> }[] = [];
let cleaning: Promise<void> | undefined;

/** Registers an undo step; steps run last-in first-out by runCleanups, or when the process is told to stop. */
export function onCleanup(what: string, fn: () => Promise<unknown>): void {
  cleanups.push({ what, fn });
}

export function runCleanups(): Promise<void> {
  cleaning ??= (async () => {
    while (cleanups.length) {
      const c = cleanups.pop()!;
      try {
        await c.fn();
      } catch (e) {
        note(`cleanup "${c.what}" failed: ${(e as Error).message}`);
      }
    }
  })();
  return cleaning;
}

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    note(`${sig}: cleaning up before exit`);
    const hard = setTimeout(() => process.exit(143), 60_000);
    hard.unref();
    void runCleanups().finally(() => process.exit(143));
  });
}

// A crash outside the body (an 'error' event of a socket, a stray rejection) still cleans up before exiting.
for (const event of ['uncaughtException', 'unhandledRejection'] as const) {
  process.on(event, (e: unknown) => {
    console.error(`${event}:`, e);
    const hard = setTimeout(() => process.exit(1), 60_000);
    hard.unref();
    void runCleanups().finally(() => process.exit(1));
  });
}

/** Runs a bench body, then its cleanups, whatever happens; exits non-zero on failure. */
export async function benchMain(body: () => Promise<void>): Promise<void> {
  let failed = false;
  try {
    await body();
  } catch (e) {
    failed = true;
    console.error(e);
  } finally {
    await runCleanups();
  }
  // Lingering sockets (ControlMaster children, pools) must not keep a finished bench alive.
  process.exit(failed ? 1 : 0);
}

// ---- a private RabbitMQ vhost ----

/** rabbitmqctl, retried: the shared broker may be restarting (the chaos test restarts it). */
async function rabbitmqctl(args: string[], attempts = 10): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      await exec('rabbitmqctl', ['-q', ...args], { timeout: 60_000 });
      return;
    } catch (e) {
      if (i >= attempts) throw e;
      note(`rabbitmqctl ${args[0]} failed (attempt ${i} of ${attempts}); retrying in 3 s`);
      await sleep(3000);
    }
  }
}

/** A fresh vhost on the test broker (guest may use it): the bench's queues never meet the tests'. Deleted on cleanup. */
export async function privateVhost(prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  await rabbitmqctl(['add_vhost', name]);
  onCleanup(`vhost ${name}`, () => rabbitmqctl(['delete_vhost', name]));
  const user = decodeURIComponent(new URL(TEST_AMQP).username || 'guest');
  await rabbitmqctl(['set_permissions', '-p', name, user, '.*', '.*', '.*']);
  const u = new URL(TEST_AMQP);
  u.pathname = `/${encodeURIComponent(name)}`;
  return u.toString();
}

// ---- throwaway PostgreSQL databases ----

/** Drops a database (retried: the shared server may be restarting). */
export async function dropDatabase(url: string, attempts = 5): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  if (!name || name === 'postgres') return;
  for (let i = 1; ; i++) {
    const admin = new pg.Client({ connectionString: `${TEST_PG}/postgres` });
    admin.on('error', () => undefined);
    try {
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS "${name.replace(/"/g, '')}" WITH (FORCE)`);
      return;
    } catch (e) {
      if (i >= attempts) throw e;
      await sleep(3000);
    } finally {
      await admin.end().catch(() => undefined);
    }
  }
}

export async function createDatabase(prefix: string): Promise<string> {
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: `${TEST_PG}/postgres` });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = `${TEST_PG}/${name}`;
  onCleanup(`database ${name}`, () => dropDatabase(url));
  return url;
}

// ---- a workspace room that times task events ----

export interface TaskEnd {
  status: string;
  /** performance.now() when the message arrived. */
  at: number;
  error?: string;
}

const ENDED = new Set(['successful', 'failed', 'rolled_back']);

/** Joins a workspace room and answers, per task, when its final status arrived (pushed, so no polling lag). */
export async function watchRoom(notificationUrl: string, workspace: string, token: string) {
  const { WebSocket } = await import('ws');
  const ended = new Map<string, TaskEnd>();
  const waiters = new Map<string, (e: TaskEnd) => void>();
  const ws = new WebSocket(`${notificationUrl}/${workspace}/${token}`);
  ws.on('message', (data) => {
    const at = performance.now();
    let m: { kind?: string; task_id?: string; status?: string; error?: string };
    try {
      m = JSON.parse(String(data));
    } catch {
      return;
    }
    if (m.kind !== 'task' || !m.task_id || !m.status || !ENDED.has(m.status)) return;
    const e: TaskEnd = { status: m.status, at, error: m.error };
    ended.set(m.task_id, e);
    waiters.get(m.task_id)?.(e);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return {
    /** Resolves when the task ended (any final status); rejects after timeoutMs. */
    ended(taskId: string, timeoutMs = 120_000): Promise<TaskEnd> {
      const done = ended.get(taskId);
      if (done) return Promise.resolve(done);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`task ${taskId} did not end within ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiters.set(taskId, (e) => {
          clearTimeout(timer);
          waiters.delete(taskId);
          resolve(e);
        });
      });
    },
    close: () => ws.close(),
  };
}
