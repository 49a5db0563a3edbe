// Fan-out latency: 1,000 clients in one room, 1,000 messages, through the Kloudak notification service (one
// in-process instance, no Redis) and through a bare `ws` broadcast server in the same run.
// Usage: npx tsx bench/notification-fanout.ts [clients=1000] [messages=1000] [gap ms=0] [budget s=55]
// A busy machine may not fit every message in the time budget: the run then stops early (both rooms at the
// same message) and says so on stderr, with the number of messages measured.
// Prints p50 and p99 (bench/support.ts emit): the median of the messages' five consecutive fifths, with min and
// max; target p99 ratio <= 2.
//
// The servers run on the main thread; the clients and the sender share one worker thread, so send and
// receive times come from one clock. The sender sends the next message once the last one reached every
// member (closed loop), so the figure is the latency of one broadcast to the whole room, not the queueing
// of a saturated machine: a blasted or fixed-rate load on a two-core box measures its backlog instead.
// The two rooms take turns message by message, so whatever else runs on the machine weighs on both alike.
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import { generateKeyPair } from 'jose';
import { WebSocket, WebSocketServer } from 'ws';
import {
  createTokenSigner,
  createTokenVerifier,
  NO_PERMISSIONS,
  SERVICE_CLAIM,
  SERVICE_NAME_CLAIM,
  UID_CLAIM,
  VERSION_CLAIM,
} from '../src/lib/auth.ts';
import { createLogger } from '../src/lib/log.ts';
import { roomPath } from '../src/lib/notify.ts';
import { createNotificationService } from '../src/notification/index.ts';
import { createAuthority } from '../src/lib/authority.ts';
import type { Standing } from '../src/lib/contracts/inventory.ts';
import { emit } from './support.ts';

interface Target {
  name: 'kloudak' | 'baseline';
  /** Where members connect. */
  memberUrl: string;
  /** Where the sender connects; its messages go to every member. */
  senderUrl: string;
}

interface Run {
  targets: Target[];
  clients: number;
  messages: number;
  warmup: number;
  /** Pause after a message reached every member, before the next one. */
  gapMs: number;
  /** Date.now() past which no new message is sent (both rooms stop at the same message). */
  deadline: number;
}

interface Result {
  p50: number;
  p99: number;
  /** p50 and p99 of each of ROUNDS consecutive slices of the messages (the samples of the figures). */
  p50s: number[];
  p99s: number[];
  max: number;
  received: number;
  expected: number;
  /** Messages measured (fewer than asked when the time budget ran out). */
  messages: number;
  /** Rounds that did not reach every member within 2 s. */
  lost: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- worker: members and the sender ----

async function openAll(urls: string[], batch = 100): Promise<WebSocket[]> {
  const out: WebSocket[] = [];
  for (let i = 0; i < urls.length; i += batch) {
    const opened = await Promise.all(
      urls.slice(i, i + batch).map(
        (u) =>
          new Promise<WebSocket>((resolve, reject) => {
            const ws = new WebSocket(u, { perMessageDeflate: false });
            ws.once('open', () => resolve(ws));
            ws.once('error', reject);
          }),
      ),
    );
    out.push(...opened);
  }
  return out;
}

interface Room {
  target: Target;
  members: WebSocket[];
  sender: WebSocket;
  samples: Float64Array;
  count: number;
  /** `count` when each measured message was sent: where its samples begin. */
  starts: number[];
  lost: number;
}

/** The messages are cut into this many consecutive slices, each giving a p50 and a p99. */
const ROUNDS = 5;

async function measure(run: Run): Promise<Record<Target['name'], Result>> {
  const total = run.warmup + run.messages;
  let inRound = 0;
  let roundDone: () => void = () => {};
  const rooms: Room[] = [];
  for (const target of run.targets) {
    const room: Room = {
      target,
      members: await openAll(Array.from({ length: run.clients }, () => target.memberUrl)),
      sender: (await openAll([target.senderUrl]))[0],
      samples: new Float64Array(run.clients * run.messages),
      count: 0,
      starts: [],
      lost: 0,
    };
    for (const ws of room.members) {
      ws.on('message', (data) => {
        const now = process.hrtime.bigint();
        const m = JSON.parse((data as Buffer).toString()) as { seq: number; t: string };
        if (m.seq >= run.warmup) room.samples[room.count++] = Number(now - BigInt(m.t)) / 1e6;
        if (++inRound === run.clients) roundDone();
      });
    }
    rooms.push(room);
  }
  await sleep(200);
  let seq = 0;
  for (; seq < total && Date.now() < run.deadline; seq++) {
    // Interleaved, first one then the other, so load from elsewhere on the machine hits both alike.
    for (const room of seq % 2 ? [...rooms].reverse() : rooms) {
      inRound = 0;
      if (seq >= run.warmup) room.starts.push(room.count);
      const round = new Promise<boolean>((r) => {
        roundDone = () => r(true);
        setTimeout(() => r(false), 2000).unref();
      });
      room.sender.send(
        JSON.stringify({ seq, t: process.hrtime.bigint().toString(), type: 'vm', status: 'successful' }),
      );
      if (!(await round)) room.lost++;
      if (run.gapMs) await sleep(run.gapMs);
    }
  }
  const out = {} as Record<Target['name'], Result>;
  for (const room of rooms) {
    for (const ws of [...room.members, room.sender]) ws.terminate();
    const n = room.count;
    const pct = (xs: Float64Array) => (q: number) =>
      xs[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? NaN;
    const slices = Array.from({ length: ROUNDS }, (_, i) => {
      const per = Math.max(1, Math.floor(room.starts.length / ROUNDS));
      const from = room.starts[i * per] ?? n;
      const to = i === ROUNDS - 1 ? n : (room.starts[(i + 1) * per] ?? n);
      return pct(room.samples.slice(from, to).sort());
    });
    const sorted = room.samples.subarray(0, n).sort();
    const at = pct(sorted);
    out[room.target.name] = {
      p50: at(0.5),
      p99: at(0.99),
      p50s: slices.map((p) => p(0.5)).filter((x) => !Number.isNaN(x)),
      p99s: slices.map((p) => p(0.99)).filter((x) => !Number.isNaN(x)),
      max: sorted[n - 1] ?? NaN,
      received: n,
      expected: run.clients * Math.max(0, seq - run.warmup),
      messages: Math.max(0, seq - run.warmup),
      lost: room.lost,
    };
  }
  return out;
}

if (!isMainThread) {
  parentPort!.on('message', (run: Run) => {
    measure(run).then(
      (r) => parentPort!.postMessage(r),
      (e: Error) => parentPort!.postMessage({ error: e.message }),
    );
  });
}

// ---- main: the two servers ----

async function main(): Promise<void> {
  const [clients = 1000, messages = 1000, gapMs = 0, budgetSeconds = 55] = process.argv.slice(2).map(Number);
  const started = Date.now() - process.uptime() * 1000;
  const log = createLogger('bench', 'warn');
  const keys = await generateKeyPair('EdDSA');
  const signer = createTokenSigner(keys.privateKey, 'bench');
  const workspace = 'bench-room';
  const userToken = await signer.sign(
    { username: 'watcher', email: 'w@example.com', [UID_CLAIM]: 1, [VERSION_CLAIM]: 1 },
    3600,
  );
  // The watcher's standing as inventory would answer it (no inventory runs in this benchmark).
  const watcher: Standing = {
    uid: 1,
    username: 'watcher',
    version: 1,
    disabled: false,
    admin: false,
    workspaces: [{ id: 1, name: workspace, owner: false, ...NO_PERMISSIONS, vm_can_add: true }],
  };
  const auth = createAuthority({
    verifier: createTokenVerifier(keys.publicKey),
    log,
    source: {
      standing: async (uid) => (uid === 1 ? watcher : undefined),
      changes: async () => ({ latest: 0, oldest: 0, changes: [] }),
    },
  });
  // Named like the controller's own (issue 14: a service sends to rooms only when its name holds `notify`).
  const serviceToken = await signer.sign(
    { username: 'kloudak-controller', [SERVICE_CLAIM]: true, [SERVICE_NAME_CLAIM]: 'controller' },
    3600,
  );

  const kloudak = await createNotificationService({
    port: 0,
    host: '127.0.0.1',
    auth,
    log,
  });

  // The bare figure: the textbook ws broadcast, every message to every other client.
  const bare = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise<void>((r) => bare.once('listening', () => r()));
  bare.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => {
      for (const c of bare.clients)
        if (c !== ws && c.readyState === WebSocket.OPEN) c.send(data, { binary: isBinary });
    });
  });
  const barePort = (bare.address() as { port: number }).port;

  // A worker does not inherit tsx's loader: it registers it, then loads this file.
  const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(import.meta.url)}); })`;
  const worker = new Worker(boot, { eval: true });
  const k = `ws://127.0.0.1:${kloudak.port}`;
  const bareUrl = `ws://127.0.0.1:${barePort}/`;
  const results = await new Promise<Record<Target['name'], Result>>((resolve, reject) => {
    worker.once('message', (r: Record<Target['name'], Result> & { error?: string }) =>
      r.error ? reject(new Error(r.error)) : resolve(r),
    );
    worker.once('error', reject);
    const run: Run = {
      targets: [
        { name: 'baseline', memberUrl: bareUrl, senderUrl: bareUrl },
        {
          name: 'kloudak',
          memberUrl: k + roomPath(workspace, userToken),
          senderUrl: k + roomPath(workspace, serviceToken, true),
        },
      ],
      clients,
      messages,
      warmup: Math.min(20, messages),
      gapMs,
      deadline: started + budgetSeconds * 1000,
    };
    worker.postMessage(run);
  });
  const { baseline, kloudak: ours } = results;
  await worker.terminate();
  bare.close();
  await kloudak.close();
  auth.close();

  process.stderr.write(
    `${JSON.stringify({ clients, messages, gapMs, seconds: Math.round((Date.now() - started) / 100) / 10, baseline, kloudak: ours })}\n`,
  );
  // A room that hears nothing is a broken bench (a refused sender), not a figure.
  if (!ours.received || !baseline.received)
    throw new Error(`a room received nothing (kloudak ${ours.received}, baseline ${baseline.received})`);
  if (ours.messages < messages)
    process.stderr.write(
      `time budget of ${budgetSeconds} s ran out: measured ${ours.messages} of ${messages} messages\n`,
    );
  for (const figure of ['p50', 'p99'] as const) {
    emit({
      figure: `fan-out to ${clients} clients in one room, ${figure} of each fifth of ${ours.messages} messages`,
      samples: figure === 'p50' ? ours.p50s : ours.p99s,
      baselineSamples: figure === 'p50' ? baseline.p50s : baseline.p99s,
      digits: 2,
      unit: 'ms',
      ...(figure === 'p99' ? { target: '<= 2' } : {}),
      [`${figure}_all_messages_ms`]: { kloudak: ours[figure], baseline: baseline[figure] },
    });
  }
}

if (isMainThread) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
