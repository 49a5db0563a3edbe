// Issue 14.9: the example env file's CHANGE-ME (or any short secret) stops a service at start, naming the
// setting, before it listens or connects anywhere.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cliEnv, kloudak } from './support.ts';

void test('`kloudak serve` with a placeholder service secret exits 2 naming it', async () => {
  const { env } = cliEnv();
  for (const service of ['inventory', 'compute', 'monitoring']) {
    const r = await kloudak(
      { ...env, KLOUDAK_SERVICE_SECRET: 'CHANGE-ME', KLOUDAK_TASK_KEY: 'too-short' },
      ['serve', service],
      60_000,
    );
    assert.equal(r.code, 2, `${service}: ${r.stderr}`);
    assert.match(r.stderr, /KLOUDAK_SERVICE_SECRET: a placeholder/);
    assert.match(r.stderr, /KLOUDAK_TASK_KEY: must be at least 16 characters/);
    assert.ok(!r.stderr.includes('CHANGE-ME') && !r.stderr.includes('too-short'), 'values never echoed');
  }
});
