// The dashboard's usage charts read the monitoring stats API's real answers (issue 12: they stayed empty).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seriesOf } from '../../web/src/series.ts';

test("a VM's samples become CPU (% of its vCPUs) and memory (RSS, MiB) series", () => {
  const s = seriesOf({
    workspace: 'w',
    name: 'vm1',
    samples: [
      { at: '2026-11-30T10:00:00.000Z', cpu: null, memory_kib: 98304, rss_kib: 40960 },
      { at: '2026-11-30T10:00:10.000Z', cpu: 0.25, memory_kib: 98304, rss_kib: 51200 },
    ],
  });
  const t0 = Date.parse('2026-11-30T10:00:00.000Z') / 1000;
  assert.deepEqual(s, [
    { name: 'CPU', unit: '%', max: 100, points: [[t0 + 10, 25]] },
    {
      name: 'Memory (RSS)',
      unit: ' MiB',
      max: 96,
      points: [
        [t0, 40],
        [t0 + 10, 50],
      ],
    },
  ]);
});

test("a host's samples become CPU busy and memory allocated, scaled to the host's memory", () => {
  const s = seriesOf({
    host: { name: 'h1', memory_mib: 2048 },
    samples: [{ at: '2026-11-30T10:00:00.000Z', cpu_busy: 0.5, alloc_mib: 96 }],
  });
  const t0 = Date.parse('2026-11-30T10:00:00.000Z') / 1000;
  assert.deepEqual(s, [
    { name: 'CPU', unit: '%', max: 100, points: [[t0, 50]] },
    { name: 'Memory allocated', unit: ' MiB', max: 2048, points: [[t0, 96]] },
  ]);
});

test('no samples, or an answer that is no stats answer, is no series', () => {
  assert.deepEqual(seriesOf({ samples: [] }), []);
  assert.deepEqual(seriesOf({ error: 'no data yet' }), []);
  assert.deepEqual(seriesOf(undefined), []);
});
