// `npm run bench`: runs every benchmark of the project, one at a time (the machine is small and the lab is
// shared), each as a child process with a time limit, collects the JSON lines they print
// ({figure, kloudak, baseline, ratio, unit}) and writes one report: bench/results/latest.md (a table, with the
// date and the machine) and bench/results/latest.json; the table is printed too. A bench that fails or runs
// out of time is recorded in the table and the run goes on.
//
// Usage: npx tsx bench/run.ts [--only name[,name...]]... [--list] [--render] [--no-services] [--timeout-scale x]
//   --only          run these benches (file names without .ts); their rows replace theirs in the last report,
//                   the other rows stay, each with the date it was measured
//   --list          print the benches and their time limits, run nothing
//   --render        rewrite latest.md from latest.json, run nothing
//   --no-services   do not start the test middleware (scripts/services.sh) first
//   --timeout-scale multiply every time limit (a slower machine)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, freemem, hostname, loadavg, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(BENCH_DIR);
const RESULTS = join(BENCH_DIR, 'results');

/** Files in bench/ that are not benchmarks. */
const HELPERS = new Set(['run.ts', 'support.ts']);

/**
 * The benchmarks, in running order, with their time limits (seconds). A file not listed here but present in
 * bench/ runs too, last, with the default limit; a listed one that is missing is noted and skipped.
 */
const KNOWN: { name: string; limit: number; about: string }[] = [
  {
    name: 'token-verify',
    limit: 120,
    about: 'token verifications per second, one core (lib/auth vs bare jose)',
  },
  { name: 'inventory-list', limit: 240, about: 'GET /<ws>/vms/ with 1,000 VMs on PostgreSQL (issue 2)' },
  { name: 'notification-fanout', limit: 240, about: 'fan-out to 1,000 clients in one room (issue 3b)' },
  {
    name: 'controller-accept',
    limit: 240,
    about: 'VM POSTs accepted per second into RabbitMQ with PostgreSQL (issue 3a)',
  },
  { name: 'network', limit: 300, about: 'port tagging vs bare ovs-vsctl; network create latency (issue 5)' },
  { name: 'monitoring-cycle', limit: 480, about: 'monitoring cycle, 1,250 hosts' },
  { name: 'failover', limit: 900, about: 'host failure to VMs answering, 5 rounds; a management blip' },
  {
    name: 'load',
    limit: 420,
    about: '200 users listing and creating for 60 s against the distributed deployment (issue 9)',
  },
  { name: 'vm-create', limit: 1800, about: 'VM create overhead vs bare virsh; 20 VMs at once (issue 4)' },
];
const DEFAULT_LIMIT = 300;
const KILL_GRACE_MS = 60_000;

interface Row {
  bench: string;
  figure: string;
  kloudak: number | null;
  baseline: number | null;
  ratio: number | null;
  unit: string;
  /** Everything else the bench printed on the line. */
  extra?: Record<string, unknown>;
}

interface BenchResult {
  name: string;
  status: 'ok' | 'failed' | 'timeout' | 'missing';
  /** ISO date of the run. */
  date: string;
  seconds: number;
  exitCode: number | null;
  /** Load average (1 min) before and after: the machine is shared. */
  load: [number, number];
  rows: Row[];
  /** JSON lines without a figure (kept in latest.json, not in the table). */
  otherLines?: Record<string, unknown>[];
  error?: string;
}

interface Report {
  date: string;
  machine: Machine;
  benches: BenchResult[];
}

interface Machine {
  hostname: string;
  cores: number;
  cpu: string;
  memoryGiB: number;
  freeMemoryGiB: number;
  kernel: string;
  node: string;
}

function parseArgs(argv: string[]) {
  const only: string[] = [];
  let list = false;
  let render = false;
  let services = true;
  let scale = 1;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--only') only.push(...(argv[++i] ?? '').split(',').filter(Boolean));
    else if (a?.startsWith('--only=')) only.push(...a.slice(7).split(',').filter(Boolean));
    else if (a === '--list') list = true;
    else if (a === '--render') render = true;
    else if (a === '--no-services') services = false;
    else if (a === '--timeout-scale') scale = Number(argv[++i]);
    else {
      console.error(
        `unknown argument ${a}\nusage: npx tsx bench/run.ts [--only name[,name]] [--list] [--no-services] [--timeout-scale x]`,
      );
      process.exit(2);
    }
  }
  if (!(scale > 0)) {
    console.error('--timeout-scale needs a positive number');
    process.exit(2);
  }
  return { only: only.map((n) => n.replace(/\.ts$/, '')), list, render, services, scale };
}

function benchList(): { name: string; limit: number; about: string; present: boolean }[] {
  const files = readdirSync(BENCH_DIR).filter(
    (f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.endsWith('.d.ts') && !HELPERS.has(f),
  );
  const present = new Set(files.map((f) => f.slice(0, -3)));
  const known = KNOWN.map((k) => ({ ...k, present: present.has(k.name) }));
  const extra = [...present]
    .filter((n) => !KNOWN.some((k) => k.name === n))
    .sort()
    .map((name) => ({
      name,
      limit: DEFAULT_LIMIT,
      about: '(not in the runner list: default limit)',
      present: true,
    }));
  return [...known, ...extra];
}

function machine(): Machine {
  return {
    hostname: hostname(),
    cores: cpus().length,
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    freeMemoryGiB: Math.round((freemem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
  };
}

/** The middleware the benches use, as scripts/test.sh starts it; its KEY=value lines go to the benches' env. */
function startServices(): Record<string, string> {
  const script = join(ROOT, 'scripts', 'services.sh');
  if (!existsSync(script)) return {};
  const r = spawnSync('bash', [script, 'postgres rabbitmq redis zookeeper'], {
    encoding: 'utf8',
    timeout: 300_000,
  });
  if (r.status !== 0) {
    console.error(
      `scripts/services.sh failed (${r.status}); benches that need the middleware will fail:\n${r.stderr}`,
    );
    return {};
  }
  const env: Record<string, string> = {};
  for (const line of r.stdout.split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) env[m[1]] = m[2]!;
  }
  return env;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** Unit when a bench did not say: from a figure name like p99_ms. */
function unitOf(line: Record<string, unknown>): string {
  if (typeof line.unit === 'string') return line.unit;
  const m = /_(ms|s|us)$/.exec(String(line.figure));
  return m ? m[1] : '';
}

function toRow(bench: string, line: Record<string, unknown>): Row {
  const { figure, kloudak, baseline, ratio, unit: _unit, ...extra } = line;
  const k = num(kloudak);
  const b = num(baseline);
  return {
    bench,
    figure: String(figure),
    kloudak: k,
    baseline: b,
    ratio: num(ratio) ?? (k !== null && b ? Math.round((k / b) * 1000) / 1000 : null),
    unit: unitOf(line),
    ...(Object.keys(extra).length ? { extra } : {}),
  };
}

function runOne(name: string, limitSeconds: number, env: NodeJS.ProcessEnv): Promise<BenchResult> {
  const file = join(BENCH_DIR, `${name}.ts`);
  const date = new Date().toISOString();
  const started = Date.now();
  const load0 = loadavg()[0];
  return new Promise((resolve) => {
    // Own process group, so the time limit stops the bench and whatever it started (ssh, virsh, workers).
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    current = child.pid;
    const rows: Row[] = [];
    const other: Record<string, unknown>[] = [];
    let out = '';
    let errTail = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      let nl;
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl).trim();
        out = out.slice(nl + 1);
        take(line);
      }
    });
    const take = (line: string) => {
      if (!line.startsWith('{')) {
        if (line) process.stdout.write(`  [${name}] ${line}\n`);
        return;
      }
      try {
        const j = JSON.parse(line) as Record<string, unknown>;
        if (typeof j.figure !== 'string') {
          other.push(j);
          return;
        }
        rows.push(toRow(name, j));
        process.stdout.write(`  [${name}] ${line}\n`);
      } catch {
        process.stdout.write(`  [${name}] ${line}\n`);
      }
    };
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      errTail = (errTail + chunk).slice(-4000);
      process.stderr.write(chunk.replace(/^(?=.)/gm, `  [${name}] `));
    });
    const signal = (sig: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, sig);
      } catch {
        /* gone already */
      }
    };
    // SIGTERM first: the benches clean up (guests, queues, databases) on it; SIGKILL if they do not finish.
    const timer = setTimeout(() => {
      timedOut = true;
      process.stderr.write(`  [${name}] time limit of ${limitSeconds} s reached: stopping it\n`);
      signal('SIGTERM');
      setTimeout(() => signal('SIGKILL'), KILL_GRACE_MS).unref();
    }, limitSeconds * 1000);
    child.on('close', (code) => {
      clearTimeout(timer);
      current = undefined;
      if (out.trim()) take(out.trim());
      const seconds = Math.round((Date.now() - started) / 100) / 10;
      const lastError = errTail
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => /error|failed|refused|timed out|not /i.test(l))
        .slice(0, 1)[0];
      const status: BenchResult['status'] = timedOut ? 'timeout' : code === 0 ? 'ok' : 'failed';
      resolve({
        name,
        status,
        date,
        seconds,
        exitCode: code,
        load: [Math.round(load0 * 10) / 10, Math.round(loadavg()[0] * 10) / 10],
        rows,
        ...(other.length ? { otherLines: other } : {}),
        ...(status === 'ok'
          ? {}
          : {
              error: timedOut
                ? `time limit of ${limitSeconds} s reached`
                : `exit ${code}${lastError ? `: ${lastError.slice(0, 200)}` : ''}`,
            }),
      });
    });
  });
}

/** The running bench's process group: an interrupted runner stops it (it cleans up on SIGTERM) before leaving. */
let current: number | undefined;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (current === undefined) process.exit(130);
    process.stderr.write(`${sig}: stopping the running bench (it cleans up first)\n`);
    try {
      process.kill(-current, 'SIGTERM');
    } catch {
      process.exit(130);
    }
    setTimeout(() => process.exit(130), KILL_GRACE_MS).unref();
    const wait = setInterval(() => {
      if (current === undefined) process.exit(130);
    }, 200);
    wait.unref();
  });
}

const fmt = (v: number | null) => {
  if (v === null) return '—';
  if (Math.abs(v) >= 100) return v.toLocaleString('en-US', { maximumFractionDigits: 0 });
  if (Math.abs(v) >= 10) return v.toLocaleString('en-US', { maximumFractionDigits: 1 });
  return v.toLocaleString('en-US', { maximumFractionDigits: 3 });
};
const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function table(report: Report): string {
  const lines = ['| figure | Kloudak | baseline | ratio | unit |', '|---|---:|---:|---:|---|'];
  for (const b of report.benches) {
    for (const r of b.rows)
      lines.push(
        `| ${cell(`${b.name}: ${r.figure}`)} | ${fmt(r.kloudak)} | ${fmt(r.baseline)} | ${fmt(r.ratio)} | ${cell(r.unit)} |`,
      );
    if (b.status === 'ok' && !b.rows.length)
      lines.push(`| ${cell(`${b.name}: printed no figure line`)} | — | — | — | |`);
    if (b.status !== 'ok')
      lines.push(
        `| ${cell(`${b.name}: ${b.status.toUpperCase()} (${b.error ?? 'no figure'})`)} | — | — | — | |`,
      );
  }
  return lines.join('\n');
}

function markdown(report: Report): string {
  const m = report.machine;
  const runs = report.benches
    .map(
      (b) =>
        `- ${b.name}: ${b.status}${b.status === 'missing' ? '' : `, ${b.date.slice(0, 16).replace('T', ' ')} UTC, ${b.seconds} s, load average ${b.load[0]} → ${b.load[1]}`}${b.error && b.status !== 'missing' ? ` (${b.error})` : ''}`,
    )
    .join('\n');
  return `# Benchmark results

Run ${report.date.slice(0, 16).replace('T', ' ')} UTC on ${m.hostname}: ${m.cores} cores (${m.cpu}), ${m.memoryGiB} GiB memory, Linux ${m.kernel}, Node ${m.node}.
Ratio = Kloudak / baseline unless the bench says otherwise (monitoring-cycle: speed-up over 1 worker); for rates
higher is better, for times lower. Both sides of a row ran in the same run, side by side. The machine is shared:
the load average around each bench is listed below. \`npm run bench\` writes this file; bench/README-section.md
says what each figure measures.

${table(report)}

Runs:
${runs}
`;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const benches = benchList();
  if (args.list) {
    for (const b of benches)
      console.log(
        `${b.name.padEnd(22)} ${String(Math.round(b.limit * args.scale)).padStart(5)} s  ${b.present ? '' : '(missing) '}${b.about}`,
      );
    return;
  }
  const jsonFile = join(RESULTS, 'latest.json');
  if (args.render) {
    const report = JSON.parse(readFileSync(jsonFile, 'utf8')) as Report;
    writeFileSync(join(RESULTS, 'latest.md'), markdown(report));
    console.log(`${table(report)}\n\nwritten: bench/results/latest.md`);
    return;
  }
  const unknown = args.only.filter((n) => !benches.some((b) => b.name === n));
  if (unknown.length) {
    console.error(`no such bench: ${unknown.join(', ')} (known: ${benches.map((b) => b.name).join(', ')})`);
    process.exit(2);
  }
  const chosen = args.only.length ? benches.filter((b) => args.only.includes(b.name)) : benches;

  const env: NodeJS.ProcessEnv = { ...process.env };
  if (args.services) {
    console.log('== middleware (scripts/services.sh)');
    for (const [k, v] of Object.entries(startServices())) env[k] ??= v;
  }
  // Benches log nothing unless asked.
  env.KLOUDAK_TEST_LOG ??= 'silent';

  const results: BenchResult[] = [];
  for (const b of chosen) {
    if (!b.present) {
      console.log(`== ${b.name}: bench/${b.name}.ts not found, skipped`);
      results.push({
        name: b.name,
        status: 'missing',
        date: new Date().toISOString(),
        seconds: 0,
        exitCode: null,
        load: [0, 0],
        rows: [],
        error: `bench/${b.name}.ts not found`,
      });
      continue;
    }
    const limit = Math.round(b.limit * args.scale);
    console.log(`== ${b.name} (time limit ${limit} s): ${b.about}`);
    const r = await runOne(b.name, limit, env);
    console.log(`== ${b.name}: ${r.status} after ${r.seconds} s${r.error ? ` (${r.error})` : ''}`);
    results.push(r);
  }

  // A partial run (--only) replaces its benches' rows in the last report and keeps the others.
  let benchesOut = results;
  if (args.only.length && existsSync(jsonFile)) {
    try {
      const prev = JSON.parse(readFileSync(jsonFile, 'utf8')) as Report;
      const order = benches.map((b) => b.name);
      const merged = new Map(prev.benches.map((b) => [b.name, b]));
      for (const r of results) merged.set(r.name, r);
      benchesOut = [...merged.values()].sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
    } catch (e) {
      console.error(`could not merge with ${jsonFile}: ${(e as Error).message}; writing this run alone`);
    }
  }
  const report: Report = { date: new Date().toISOString(), machine: machine(), benches: benchesOut };
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(jsonFile, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(RESULTS, 'latest.md'), markdown(report));
  console.log(`\n${table(report)}\n\nwritten: bench/results/latest.md, bench/results/latest.json`);
  // The run itself succeeds even when a bench failed: the table says which.
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
