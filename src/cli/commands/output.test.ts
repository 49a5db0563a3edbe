import { test } from 'node:test';
import assert from 'node:assert/strict';
import { humanGiB, table } from './output.ts';

test('sizes in GiB read as people write them', () => {
  assert.equal(humanGiB(0.09375), '96 MiB');
  assert.equal(humanGiB(0.125), '128 MiB');
  assert.equal(humanGiB(0.5), '512 MiB');
  assert.equal(humanGiB(1), '1 GiB');
  assert.equal(humanGiB(1.5), '1.5 GiB');
  assert.equal(humanGiB(20), '20 GiB');
  assert.equal(humanGiB(0.0001), '0.1 MiB');
});

test('tables align their columns and show absent values as -', () => {
  assert.equal(
    table(
      [
        { n: 'tiny', r: '96 MiB' },
        { n: 'large-one', r: undefined },
      ],
      [
        ['NAME', (r) => r.n],
        ['RAM', (r) => r.r],
      ],
    ),
    'NAME       RAM\ntiny       96 MiB\nlarge-one  -\n',
  );
});
