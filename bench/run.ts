// `npm run bench`: runs every benchmark of the project, one at a time (the machine is small and the lab is
// shared), each as a child process with a time limit, collects the JSON lines they print
// ({figure, kloudak, baseline, ratio, unit, min, max, samples, ...}: bench/support.ts emit) and writes one
// report: bench/results/latest.json, bench/results/latest.md (every row, with the machine and the load
// average around each bench), and the README's benchmark section (bench/README-section.md, also written into
// README.md between its bench markers). Every row the run measures is in both tables, good or bad. A bench
// that fails or runs out of time is recorded in the table and the run goes on.
//
// Usage: npx tsx bench/run.ts [--only name[,name...]]... [--list] [--render] [--no-services] [--timeout-scale x]
//   --only          run these benches (file names without .ts); their rows replace theirs in the last report,
//                   the other rows stay, each with the run it was measured in (the README says when rows
//                   come from more than one run)
//   --list          print the benches and their time limits, run nothing
//   --render        rewrite latest.md and the README section from latest.json, run nothing
//   --no-services   do not start the test middleware (scripts/services.sh) first
//   --timeout-scale multiply every time limit (a slower machine)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, freemem, hostname, loadavg, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LAB_DIR } from '../test/support/lab.ts';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(BENCH_DIR);
const RESULTS = join(BENCH_DIR, 'results');

/** Files in bench/ that are not benchmarks. */
const HELPERS = new Set(['run.ts', 'support.ts']);

/**
 * The benchmarks, in running order, with their time limits (seconds). A file not listed here but present in
 * bench/ runs too, last, with the default limit; a listed one that is missing is noted and skipped.
 */
const KNOWN: { name: string; limit: number; about: string; lab?: boolean }[] = [
  {
    name: 'token-verify',
    limit: 120,
    about: 'token checks per second, one core, with and without the verified-token cache, vs bare jose',
  },
  {
    name: 'inventory-list',
    limit: 240,
    about: 'GET /<ws>/vms/, 10,000 VMs, default page and 1,000, vs one bare SELECT + stringify',
  },
  { name: 'notification-fanout', limit: 240, about: 'fan-out to 1,000 clients in one room (issue 3b)' },
  {
    name: 'controller-accept',
    limit: 240,
    about: 'VM POSTs accepted per second into RabbitMQ with PostgreSQL; one area vs 16 areas',
  },
  { name: 'monitoring-cycle', limit: 720, about: 'monitoring cycle, 1,250 hosts, six configurations' },
  {
    name: 'load',
    limit: 420,
    about: 'open-model load at climbing rates, 2 inventory + 2 controller instances',
  },
  // The lab's benches last: each holds the machine's lab lock while it runs (scripts/test.sh's).
  {
    name: 'network',
    limit: 300,
    about: 'port tagging vs bare ovs-vsctl; network create latency (issue 5)',
    lab: true,
  },
  {
    name: 'failover',
    limit: 900,
    about: 'host failure to VMs answering, 5 rounds; a management blip',
    lab: true,
  },
  {
    name: 'vm-create',
    limit: 1800,
    about: 'VM create overhead vs bare virsh; 20 VMs at once (issue 4)',
    lab: true,
  },
];

const LAB_LOCK = process.env.KLOUDAK_TEST_LOCK ?? '/tmp/kloudak-test.lock';
/** Takes the lab hosts down (scripts/test.sh's lab); the next user brings them up afresh. */
function labDown(): void {
  console.log(`== lab down (${LAB_DIR})`);
  spawnSync(join(ROOT, 'bin', 'kloudak.js'), ['lab', 'down', '--dir', LAB_DIR], {
    stdio: 'ignore',
    timeout: 300_000,
  });
}

/** How long a lab bench waits for the lock (BENCH_LAB_WAIT, seconds) before it is recorded as not run. */
const LAB_WAIT = Number(process.env.BENCH_LAB_WAIT ?? 1800);

/** Takes the machine's lab lock (flock, as scripts/test.sh does), waiting for others; answers its release. */
async function labLock(): Promise<() => void> {
  const holder = spawn('flock', ['-w', String(LAB_WAIT), LAB_LOCK, 'sh', '-c', 'echo held; exec cat'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    holder.stdout.once('data', () => resolve());
    holder.once('exit', () => reject(new Error(`the lab lock was not free within ${LAB_WAIT} s`)));
  });
  return () => holder.stdin.end();
}
const DEFAULT_LIMIT = 300;
const KILL_GRACE_MS = 60_000;

interface Row {
  bench: string;
  figure: string;
  /** Medians of the samples. */
  kloudak: number | null;
  baseline: number | null;
  ratio: number | null;
  unit: string;
  min?: number;
  max?: number;
  samples?: number;
  baseline_min?: number;
  baseline_max?: number;
  baseline_samples?: number;
  /** What the issue asks, e.g. '>= 0.25', of the ratio (or of the Kloudak value), and whether it holds. */
  target?: string;
  targetOf?: 'ratio' | 'kloudak';
  met?: boolean;
  /** Everything else the bench printed on the line. */
  extra?: Record<string, unknown>;
}

interface BenchResult {
  name: string;
  /** The `npm run bench` run it was measured in (its start, ISO). */
  run?: string;
  status: 'ok' | 'failed' | 'timeout' | 'missing';
  /** ISO date of the run. */
  date: string;
  seconds: number;
  exitCode: number | null;
  /** Load average (1 min) before and after: the machine is shared (absent when not recorded). */
  load?: [number, number];
  /** The wait for a quiet machine before the bench (settle): seconds waited, CPU busy (0-1) at the start. */
  settled?: { waited: number; busy: number };
  rows: Row[];
  /** JSON lines without a figure (kept in latest.json, not in the table). */
  otherLines?: Record<string, unknown>[];
  error?: string;
}

interface Report {
  date: string;
  /** This run's start (ISO): benches measured in it carry it as `run`. */
  run?: string;
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

/** Whether `value` meets a target such as '>= 0.25' or '<= 10'. */
function meets(target: string, value: number | null): boolean | undefined {
  const m = /^\s*(>=|<=|>|<)\s*(-?[0-9.]+)\s*$/.exec(target);
  if (!m || value === null) return undefined;
  const t = Number(m[2]);
  return m[1] === '>=' ? value >= t : m[1] === '<=' ? value <= t : m[1] === '>' ? value > t : value < t;
}

function toRow(bench: string, line: Record<string, unknown>): Row {
  const {
    figure,
    kloudak,
    baseline,
    ratio,
    unit: _unit,
    min,
    max,
    samples,
    baseline_min,
    baseline_max,
    baseline_samples,
    target,
    targetOf,
    ...extra
  } = line;
  const k = num(kloudak);
  const b = num(baseline);
  const r = num(ratio) ?? (k !== null && b ? Math.round((k / b) * 1000) / 1000 : null);
  const of = targetOf === 'kloudak' ? 'kloudak' : 'ratio';
  const t = typeof target === 'string' ? target : undefined;
  const opt = (key: string, v: unknown) => (num(v) !== null ? { [key]: num(v)! } : {});
  return {
    bench,
    figure: String(figure),
    kloudak: k,
    baseline: b,
    ratio: r,
    unit: unitOf(line),
    ...opt('min', min),
    ...opt('max', max),
    ...opt('samples', samples),
    ...opt('baseline_min', baseline_min),
    ...opt('baseline_max', baseline_max),
    ...opt('baseline_samples', baseline_samples),
    ...(t ? { target: t, targetOf: of, met: meets(t, of === 'kloudak' ? k : r) } : {}),
    ...(Object.keys(extra).length ? { extra } : {}),
  };
}

/** The machine's CPU use (all cores, 0-1) over the next `ms`, from /proc/stat. */
async function cpuBusy(ms: number): Promise<number> {
  const sample = () => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3] + (f[4] ?? 0); // idle + iowait
    return { idle, total: f.reduce((a, b) => a + b, 0) };
  };
  const a = sample();
  await new Promise((r) => setTimeout(r, ms));
  const b = sample();
  return b.total > a.total ? 1 - (b.idle - a.idle) / (b.total - a.total) : 0;
}

/** A bench starts when the CPU was at most this busy over a 5 s window (what the last bench started, e.g.
 * monitoring's thousands of virsh processes, has wound down), or after SETTLE_MAX seconds all the same. */
const QUIET = 0.2;
const SETTLE_MAX = Number(process.env.BENCH_SETTLE_MAX ?? 180);

async function settle(): Promise<{ waited: number; busy: number }> {
  const t0 = Date.now();
  let busy = await cpuBusy(5000);
  while (busy > QUIET && Date.now() - t0 < SETTLE_MAX * 1000) busy = await cpuBusy(5000);
  return { waited: Math.round((Date.now() - t0) / 1000), busy: Math.round(busy * 100) / 100 };
}

function runOne(
  name: string,
  limitSeconds: number,
  env: NodeJS.ProcessEnv,
  run: string,
): Promise<BenchResult> {
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
        run,
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
const utc = (iso: string) => `${iso.slice(0, 16).replace('T', ' ')} UTC`;

/** A median with its spread: `12.3 (11.9–13.0)`. */
function spread(v: number | null, min?: number, max?: number): string {
  if (v === null) return '—';
  return min !== undefined && max !== undefined && (min !== v || max !== v)
    ? `${fmt(v)} (${fmt(min)}–${fmt(max)})`
    : fmt(v);
}
const samplesOf = (r: Row) =>
  r.samples === undefined
    ? '1'
    : r.baseline_samples !== undefined && r.baseline_samples !== r.samples
      ? `${r.samples} / ${r.baseline_samples}`
      : String(r.samples);
const targetOf = (r: Row) =>
  r.target === undefined
    ? ''
    : `${r.targetOf === 'kloudak' ? '' : 'ratio '}${r.target}: ${r.met === undefined ? '?' : r.met ? '**met**' : '**not met**'}`;

/** Every row of the report, one table: median (min–max) of each side, samples, target, load around the bench. */
function table(report: Report): string {
  const lines = [
    '| figure | Kloudak | baseline | ratio | unit | samples | target | load |',
    '|---|---:|---:|---:|---|---:|---|---|',
  ];
  for (const b of report.benches) {
    const load = b.load ? `${b.load[0]} → ${b.load[1]}` : 'not recorded';
    for (const r of b.rows)
      lines.push(
        `| ${cell(`${b.name}: ${r.figure}`)} | ${spread(r.kloudak, r.min, r.max)} | ${spread(r.baseline, r.baseline_min, r.baseline_max)} | ${fmt(r.ratio)} | ${cell(r.unit)} | ${samplesOf(r)} | ${cell(targetOf(r))} | ${load} |`,
      );
    if (b.status === 'ok' && !b.rows.length)
      lines.push(`| ${cell(`${b.name}: printed no figure line`)} | — | — | — | | | | ${load} |`);
    if (b.status !== 'ok')
      lines.push(
        `| ${cell(`${b.name}: ${b.status.toUpperCase()} (${b.error ?? 'no figure'})`)} | — | — | — | | | | ${b.status === 'missing' ? '' : load} |`,
      );
  }
  return lines.join('\n');
}

/** The runs the report's rows come from (one, after a whole `npm run bench`). */
function runsOf(report: Report): string[] {
  return [...new Set(report.benches.map((b) => b.run ?? b.date))].sort();
}

function runList(report: Report): string {
  return report.benches
    .map(
      (b) =>
        `- ${b.name}: ${b.status}${b.status === 'missing' ? '' : `, ${utc(b.date)}, ${b.seconds} s, load average ${b.load ? `${b.load[0]} → ${b.load[1]}` : 'not recorded'}${b.settled ? `, started after ${b.settled.waited} s with the CPU ${Math.round(b.settled.busy * 100)} % busy` : ''}`}${b.error && b.status !== 'missing' ? ` (${b.error})` : ''}`,
    )
    .join('\n');
}

const README_NOTE = `Ratio = Kloudak / baseline (for rates higher is better, for times lower is better), except the
monitoring cycle's, a speed-up over one worker. Each cell is the median of its samples with (min–max); the
load column is the machine's 1-minute load average before → after the bench (the machine is shared). Each bench
starts once the CPU is at most ${QUIET * 100} % busy over 5 s (at most ${SETTLE_MAX} s of waiting; the run list says how long).`;

function markdown(report: Report): string {
  const m = report.machine;
  return `# Benchmark results

Run ${utc(report.date)} on ${m.hostname}: ${m.cores} cores (${m.cpu}), ${m.memoryGiB} GiB memory, Linux ${m.kernel}, Node ${m.node}.
${README_NOTE} \`npm run bench\` writes this file and the README's section; bench/METHODS.md says what each
figure measures and what its baseline is.

${table(report)}

Runs:
${runList(report)}
`;
}

/** The README's benchmark section: generated from the report, never written by hand. */
function readmeSection(report: Report): string {
  const m = report.machine;
  const runs = runsOf(report);
  const from =
    runs.length === 1
      ? `one \`npm run bench\` run, started ${utc(runs[0])}`
      : `**${runs.length} separate runs** (started ${runs.map(utc).join('; ')}): rerun \`npm run bench\` whole for figures of one run`;
  return `<!-- Generated by bench/run.ts from bench/results/latest.json: do not edit by hand. -->
Every row of ${from}, on ${m.hostname} (${m.cores} cores, ${m.cpu}, ${m.memoryGiB} GiB, Node ${m.node}).
${README_NOTE} How each figure is measured and what its baseline is: [bench/METHODS.md](bench/METHODS.md);
raw numbers: bench/results/latest.json.

${table(report)}
`;
}

const BEGIN = '<!-- bench:begin -->';
const END = '<!-- bench:end -->';

/** Writes latest.md, bench/README-section.md and the section of README.md between the bench markers. */
function writeReports(report: Report): void {
  writeFileSync(join(RESULTS, 'latest.md'), markdown(report));
  const section = readmeSection(report);
  writeFileSync(join(BENCH_DIR, 'README-section.md'), section);
  const readme = join(ROOT, 'README.md');
  if (!existsSync(readme)) return;
  const text = readFileSync(readme, 'utf8');
  const a = text.indexOf(BEGIN);
  const b = text.indexOf(END);
  if (a < 0 || b < a) {
    console.error(`README.md has no ${BEGIN} … ${END} markers: its section is not updated`);
    return;
  }
  writeFileSync(readme, `${text.slice(0, a + BEGIN.length)}\n${section}${text.slice(b)}`);
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
    writeReports(report);
    console.log(`${table(report)}\n\nwritten: bench/results/latest.md, bench/README-section.md, README.md`);
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

  const run = new Date().toISOString();
  const results: BenchResult[] = [];
  for (const b of chosen) {
    if (!b.present) {
      console.log(`== ${b.name}: bench/${b.name}.ts not found, skipped`);
      results.push({
        name: b.name,
        run,
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
    let unlock: (() => void) | undefined;
    let r: BenchResult;
    try {
      if (KNOWN.find((k) => k.name === b.name)?.lab) {
        console.log(`== ${b.name}: waiting for the lab lock (${LAB_LOCK})`);
        unlock = await labLock();
      }
      const settled = await settle();
      console.log(`== ${b.name}: CPU ${Math.round(settled.busy * 100)} % busy after ${settled.waited} s`);
      r = { ...(await runOne(b.name, limit, env, run)), settled };
      // A lab bench that failed may have left guests its cleanup missed (seen: 14 after a failed burst):
      // the lab goes down before the lock is released, so neither the next bench nor a test run inherits them.
      if (unlock && r.status !== 'ok') labDown();
    } catch (e) {
      // Not run (the lab stayed busy): recorded as failed, the run goes on.
      const load = Math.round(loadavg()[0] * 10) / 10;
      r = {
        name: b.name,
        run,
        status: 'failed',
        date: new Date().toISOString(),
        seconds: 0,
        exitCode: null,
        load: [load, load],
        rows: [],
        error: (e as Error).message,
      };
    } finally {
      unlock?.();
    }
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
  const report: Report = { date: new Date().toISOString(), run, machine: machine(), benches: benchesOut };
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(jsonFile, `${JSON.stringify(report, null, 2)}\n`);
  writeReports(report);
  console.log(
    `\n${table(report)}\n\nwritten: bench/results/latest.json, bench/results/latest.md, bench/README-section.md, README.md`,
  );
  // The run itself succeeds even when a bench failed: the table says which.
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
