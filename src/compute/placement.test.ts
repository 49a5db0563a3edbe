import { test } from 'node:test';
import assert from 'node:assert/strict';
import { conflict, unavailable } from '../lib/errors.ts';
import { withCatalogueRetry, type Placement } from './placement.ts';

test('no host or pool in the records: the catalogue is read again and the choice made once more', async () => {
  let known: string[] = [];
  let refreshes = 0;
  const inner: Placement = {
    host: async () => known[0] ?? Promise.reject(conflict('area', 'no host in area lab has room')),
    pool: async () => Promise.reject(conflict('area', 'no pool in area lab has room')),
    room: async () => Promise.reject(unavailable('not asked')),
  };
  const p = withCatalogueRetry(inner, async () => {
    refreshes++;
    known = ['kl-h1']; // registered since the last sync
  });
  assert.equal(await p.host({ area: 'lab', memoryMib: 96, vcpus: 1 }), 'kl-h1');
  assert.equal(refreshes, 1);
  // Still nothing after the refresh: the conflict stands, read once more only.
  await assert.rejects(p.pool({ area: 'lab', sizeGib: 1 }), /no pool in area lab/);
  assert.equal(refreshes, 2);
  // Other failures are not a missing record: no refresh, the error as it is.
  await assert.rejects(
    p.room({
      area: 'lab',
      host: 'kl-h1',
      memoryMib: 1,
      vcpus: 1,
      held: { memoryMib: 1, vcpus: 1, running: false },
    }),
    /not asked/,
  );
  assert.equal(refreshes, 2);
});
