import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { assignEvenly, ownersOf } from './assign.ts';

const hosts = (n: number) => Array.from({ length: n }, (_, i) => `h${String(i).padStart(3, '0')}`);

function assertEven(split: Map<string, string[]>, items: string[]) {
  const sizes = [...split.values()].map((x) => x.length);
  assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `uneven: ${sizes.join(',')}`);
  assert.deepEqual([...split.values()].flat().sort(), [...items].sort(), 'every item exactly once');
}

test('hosts are split evenly to within one, every host once', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 1, max: 12 }), (n, m) => {
      const members = Array.from({ length: m }, (_, i) => `m${i}`);
      assertEven(assignEvenly(hosts(n), members), hosts(n));
    }),
  );
});

test('rebalancing after members come and go stays even and moves few hosts', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 200 }),
      fc.uniqueArray(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 8 }),
      fc.uniqueArray(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 8 }),
      (n, a, b) => {
        const items = hosts(n);
        const first = assignEvenly(
          items,
          a.map((i) => `m${i}`),
        );
        const second = assignEvenly(
          items,
          b.map((i) => `m${i}`),
          ownersOf(first),
        );
        assertEven(second, items);
        // A host moves only if its owner left or had more than its new quota.
        const before = ownersOf(first);
        const after = ownersOf(second);
        const quota = Math.ceil(n / b.length);
        for (const [h, m] of after) {
          const prev = before.get(h)!;
          if (prev !== m && second.has(prev))
            assert.ok(
              (first.get(prev)?.length ?? 0) > Math.floor(n / b.length) ||
                second.get(prev)!.length >= Math.floor(n / b.length),
              `${h} moved from ${prev} needlessly (quota ${quota})`,
            );
        }
      },
    ),
  );
});

test('a member leaving: only its hosts move; a member joining: it takes its share', () => {
  const items = hosts(10);
  const three = assignEvenly(items, ['a', 'b', 'c']);
  const two = assignEvenly(items, ['a', 'c'], ownersOf(three));
  for (const h of three.get('a')!) assert.ok(two.get('a')!.includes(h), 'a keeps its hosts');
  for (const h of three.get('c')!) assert.ok(two.get('c')!.includes(h), 'c keeps its hosts');
  assertEven(two, items);
  const four = assignEvenly(items, ['a', 'c', 'd', 'e'], ownersOf(two));
  assertEven(four, items);
  assert.ok(four.get('d')!.length >= 2 && four.get('e')!.length >= 2);
});

test('no members: nothing assigned', () => {
  assert.equal(assignEvenly(hosts(3), []).size, 0);
});
