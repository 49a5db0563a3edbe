// One monitoring cycle over 200 hosts with 1, 2 and 4 workers (issue 6): the leader splits the hosts, hands
// each worker its share over the bus, the workers check theirs through libvirt (a real virsh process and
// connection per host to libvirt's test:///default driver) and record figures and samples in the monitor
// database (PostgreSQL, shared by the workers as in a distributed deployment). Workers are monitoring
// instances in this process on the in-process bus, each checking MONITOR_CONCURRENCY (8) hosts at once.
//
// Two target kinds:
//  - `test:///default`: no network; a check is ~25 ms of CPU (virsh start-up), so on this 2-core machine
//    the cycle is CPU-bound and more workers in one machine cannot make it shorter;
//  - the same plus 300 ms of connection latency per check (what an SSH connection to a real host costs,
//    docs/lab.md measured ~0.3 s): checks wait on the network, and workers divide the cycle.
// The baseline of each figure is the 1-worker cycle of the same kind; ratio = baseline / kloudak (speed-up).
// Run: npx tsx bench/monitoring-cycle.ts   (~2 min)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemoryBus } from '../src/lib/bus/memory.ts';
import { loadConfig } from '../src/lib/config.ts';
import { unauthenticated } from '../src/lib/errors.ts';
import { createLogger } from '../src/lib/log.ts';
import { createElectionGroup } from '../src/monitoring/election.ts';
import { createVirshProbe, type HostProbe } from '../src/monitoring/probe.ts';
import { createMonitoring, type Monitoring } from '../src/monitoring/service.ts';
import { benchMain, createDatabase, dropDatabase, emit, median, note, round } from './support.ts';

const HOSTS = Number(process.env.BENCH_HOSTS ?? 200);
const CYCLES = Number(process.env.BENCH_CYCLES ?? 3);
const LATENCY_MS = 300;
const log = createLogger('bench', process.env.KLOUDAK_TEST_LOG ?? 'silent');
const hosts = Array.from({ length: HOSTS }, (_, i) => ({
  name: `bench-${String(i).padStart(3, '0')}`,
  address: '127.0.0.1',
  libvirt_uri: 'test:///default',
  area: 'bench',
  cpus: 16,
  memory: 3,
  domain_type: 'qemu',
}));
const noShell = { run: async () => Promise.reject(new Error('no pools in this bench')) };

function withLatency(p: HostProbe, ms: number): HostProbe {
  return {
    host: async (uri, timeout) => {
      await new Promise((r) => setTimeout(r, ms));
      return p.host(uri, timeout);
    },
    pool: (a, path, timeout) => p.pool(a, path, timeout),
  };
}

async function cycleMs(workers: number, latencyMs: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'kloudak-bench-mon-'));
  const dbUrl = await createDatabase('kbench_mon');
  const config = loadConfig(
    {},
    {
      DATA_DIR: dir,
      MONITOR_DB: dbUrl,
      MONITOR_INTERVAL: '3600',
      LOG_LEVEL: 'silent',
      SERVICE_SECRET: 'bench-secret-0123',
    },
  );
  const bus = await createMemoryBus({ log });
  const group = createElectionGroup();
  const base = createVirshProbe(noShell);
  const probe = latencyMs ? withLatency(base, latencyMs) : base;
  const instances: Monitoring[] = [];
  try {
    for (let i = 0; i < workers; i++)
      instances.push(
        await createMonitoring({
          config,
          log,
          bus,
          probe,
          election: group.join(`w${i}`),
          catalogue: { hosts: async () => hosts, pools: async () => [] },
          verifier: { verify: async () => Promise.reject(unauthenticated()) },
        }),
      );
    const leader = instances[0];
    await leader.cycle(); // warm-up: hosts inserted, first samples
    const times: number[] = [];
    for (let c = 0; c < CYCLES; c++) {
      const r = await leader.cycle();
      if (!r || r.missing.length || r.reports.length !== workers)
        throw new Error(`cycle incomplete: ${JSON.stringify(r)}`);
      const failed = r.reports.reduce((s, x) => s + x.failed, 0);
      if (failed) throw new Error(`${failed} host checks failed`);
      times.push(r.ms);
    }
    return median(times);
  } finally {
    for (const m of instances.reverse()) await m.close();
    await bus.close();
    rmSync(dir, { recursive: true, force: true });
    await dropDatabase(dbUrl);
  }
}

await benchMain(async () => {
  for (const latency of [0, LATENCY_MS]) {
    const kind = latency ? `test:///default + ${latency} ms latency` : 'test:///default';
    let one = 0;
    for (const w of [1, 2, 4]) {
      note(`monitoring cycle: ${HOSTS} hosts (${kind}), ${w} worker(s)`);
      const ms = await cycleMs(w, latency);
      if (w === 1) one = ms;
      emit({
        figure: `monitoring cycle, ${HOSTS} hosts (${kind}), ${w} worker${w > 1 ? 's' : ''}`,
        kloudak: round(ms, 0),
        baseline: w === 1 ? null : round(one, 0),
        ratio: w === 1 ? null : round(one / ms, 2),
        unit: 'ms per cycle',
      });
    }
  }
});
