// Usage charts from the monitoring stats API (GET /stats/hosts/<host>/, /stats/vms/<ws>/<vm>/ through
// inventory's /api/stats/ forwarder; series.ts reads the answers). Until monitoring has samples, or while it
// is down, a chart says "no data yet".
import { useMemo } from 'react';
import { call } from './api.ts';
import { useInterval, useResource } from './hooks.ts';
import { seriesOf, type Series } from './series.ts';

const COLORS = ['#6366f1', '#10b981', '#f59e0b', '#ef4444'];

export function UsageChart({
  source,
  pick,
  title = 'Usage',
  height = 140,
}: {
  source: string;
  pick?: string;
  title?: string;
  height?: number;
}) {
  const res = useResource(() => call('GET', source, undefined, 'stats'), `stats:${source}`);
  useInterval(res.reload, res.error ? 60_000 : 15_000);
  const series = useMemo(() => seriesOf(res.data, pick), [res.data, pick]);
  const w = 480;
  const h = height;
  return (
    <div className="chart" data-testid="usage-chart" data-has-data={series.length > 0}>
      <div className="chart-head">
        <span className="chart-title">{title}</span>
        <span className="chart-legend">
          {series.map((s, i) => (
            <span key={s.name}>
              <i style={{ background: COLORS[i % COLORS.length] }} />
              {s.name}
              {s.points.length ? ` ${fmt(s.points[s.points.length - 1][1])}${s.unit ?? ''}` : ''}
            </span>
          ))}
        </span>
      </div>
      <svg
        viewBox={`0 0 ${w} ${h}`}
        preserveAspectRatio="none"
        className="chart-svg"
        role="img"
        aria-label={title}
      >
        {[0.25, 0.5, 0.75].map((f) => (
          <line key={f} x1="0" x2={w} y1={h * f} y2={h * f} className="chart-grid" />
        ))}
        {series.map((s, i) => (
          <polyline
            key={s.name}
            points={toPoints(s, w, h)}
            fill="none"
            stroke={COLORS[i % COLORS.length]}
            strokeWidth="2"
            vectorEffect="non-scaling-stroke"
          />
        ))}
      </svg>
      {series.length === 0 ? (
        <div className="chart-empty">
          {res.loading && !res.error ? (
            'Loading…'
          ) : (
            <>
              <strong>No data yet</strong>
              {res.error ? (
                <span className="muted small">Monitoring stats are not available yet.</span>
              ) : null}
            </>
          )}
        </div>
      ) : null}
    </div>
  );
}

function fmt(v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1);
}

function toPoints(s: Series, w: number, h: number): string {
  const xs = s.points.map((p) => p[0]);
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs);
  const max = s.max ?? Math.max(1, ...s.points.map((p) => p[1]));
  return s.points
    .map(
      ([t, v]) => `${x1 === x0 ? w : ((t - x0) / (x1 - x0)) * w},${h - (Math.max(0, v) / max) * (h - 8) - 4}`,
    )
    .join(' ');
}
