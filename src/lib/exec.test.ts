import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommandError, run, shellQuote } from './exec.ts';

test('shellQuote survives a shell round trip for hostile arguments', async () => {
  for (const arg of ['a b', "it's", '$(touch /tmp/pwned)', '`id`', 'a;b|c&d', '"q"', '', 'x\ny']) {
    const out = await run('sh', ['-c', `printf %s ${shellQuote(arg)}`]);
    assert.equal(out, arg);
  }
});

test('run reports exit codes and timeouts', async () => {
  await assert.rejects(
    run('sh', ['-c', 'exit 3']),
    (e: unknown) => e instanceof CommandError && e.code === 3,
  );
  await assert.rejects(
    run('sleep', ['5'], { timeoutMs: 200 }),
    (e: unknown) => e instanceof CommandError && e.code === 'timeout',
  );
  assert.equal(await run('cat', [], { input: 'hello' }), 'hello');
});
