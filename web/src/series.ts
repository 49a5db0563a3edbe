// Chart series from the monitoring stats API's answers (docs/monitoring.md "Stats API"), kept free of React
// so the mapping is tested on its own (test/web/series.test.ts).
//   GET /stats/vms/<ws>/<vm>/   { samples: [{ at, cpu (0..1 of its vCPUs), memory_kib, rss_kib, ... }] }
//   GET /stats/hosts/<host>/    { host: { memory_mib, ... }, samples: [{ at, cpu_busy (0..1), alloc_mib, ... }] }
// An answer that already carries { series: [...] } is read as it is.

export interface Series {
  name: string;
  unit?: string;
  max?: number;
  points: [number, number][];
}

type Sample = Record<string, unknown>;
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const seconds = (at: unknown): number | undefined => {
  const t = typeof at === 'string' ? Date.parse(at) : NaN;
  return Number.isFinite(t) ? t / 1000 : undefined;
};

function fromSamples(samples: Sample[], host: Sample | undefined): Series[] {
  const series = (
    name: string,
    unit: string,
    max: number | undefined,
    value: (s: Sample) => number | undefined,
  ) => {
    const points: [number, number][] = [];
    for (const s of samples) {
      const t = seconds(s.at);
      const v = value(s);
      if (t !== undefined && v !== undefined) points.push([t, v]);
    }
    return { name, unit, max, points };
  };
  const pct = (v: unknown) => (num(v) === undefined ? undefined : num(v)! * 100);
  const mib = (kib: unknown) => (num(kib) === undefined ? undefined : num(kib)! / 1024);
  if (host || samples.some((s) => 'cpu_busy' in s || 'alloc_mib' in s))
    return [
      series('CPU', '%', 100, (s) => pct(s.cpu_busy)),
      series('Memory allocated', ' MiB', num(host?.memory_mib), (s) => num(s.alloc_mib)),
    ];
  const memory = samples.map((s) => mib(s.memory_kib)).find((v) => v !== undefined);
  return [
    series('CPU', '%', 100, (s) => pct(s.cpu)),
    series('Memory (RSS)', ' MiB', memory, (s) => mib(s.rss_kib)),
  ];
}

/** The series of an answer, or [] for anything that is not a usable stats answer. */
export function seriesOf(answer: unknown, pick?: string): Series[] {
  let a = answer as any;
  if (pick && a && typeof a === 'object' && a.hosts && typeof a.hosts === 'object' && !Array.isArray(a.hosts))
    a = a.hosts[pick];
  if (pick && a && Array.isArray(a.hosts)) a = a.hosts.find((h: any) => h?.name === pick);
  const list: unknown[] | undefined = Array.isArray(a?.series)
    ? a.series
    : Array.isArray(a?.samples)
      ? fromSamples(
          a.samples.filter((s: unknown) => s && typeof s === 'object'),
          a.host && typeof a.host === 'object' ? a.host : undefined,
        )
      : undefined;
  if (!list) return [];
  return list
    .filter((s: any) => s && typeof s.name === 'string' && Array.isArray(s.points))
    .map((s: any) => ({
      name: s.name,
      unit: typeof s.unit === 'string' ? s.unit : undefined,
      max: typeof s.max === 'number' ? s.max : undefined,
      points: (s.points as unknown[]).filter(
        (p): p is [number, number] =>
          Array.isArray(p) && typeof p[0] === 'number' && typeof p[1] === 'number',
      ),
    }))
    .filter((s: Series) => s.points.length > 0);
}
