import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createThrottle } from './ratelimit.ts';

test('throttle blocks after the limit and frees after the window', () => {
  let t = 0;
  const th = createThrottle(3, 10, () => t);
  for (let i = 0; i < 3; i++) {
    assert.equal(th.retryAfter('u'), 0);
    th.fail('u');
  }
  assert.equal(th.retryAfter('u'), 10);
  assert.equal(th.retryAfter('other'), 0);
  t = 10_001;
  assert.equal(th.retryAfter('u'), 0);
  th.fail('u');
  th.reset('u');
  assert.equal(th.retryAfter('u'), 0);
});
