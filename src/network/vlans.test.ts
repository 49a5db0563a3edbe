import { test } from 'node:test';
import assert from 'node:assert/strict';
import { firstFree } from './vlans.ts';

test('first free VLAN skips used and reserved ids and stops at the end of the ranges', () => {
  assert.equal(firstFree([[2, 10]], [], new Set()), 2);
  assert.equal(firstFree([[2, 10]], [[2, 3]], new Set([4])), 5);
  assert.equal(
    firstFree(
      [
        [20, 21],
        [2, 3],
      ],
      [],
      new Set([2, 3]),
    ),
    20,
  );
  assert.equal(firstFree([[2, 3]], [], new Set([2, 3])), undefined);
});
