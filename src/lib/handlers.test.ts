// A worker's once-per-attempt rule, on a real `handled` table (the network service's, PGlite).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { networkTestContext } from '../../test/support/network.ts';
import { createLogger } from './log.ts';
import { handledTable, onceByAttempt } from './handlers.ts';

test('an attempt runs once; a redelivery answers its result again; a stale attempt or one after the rollback is dropped', async () => {
  const t = await networkTestContext();
  try {
    const ran: string[] = [];
    const published: string[] = [];
    const handler = (kind: 'task' | 'rollback') =>
      onceByAttempt<{ task_id: string; attempt: number; type: string; method: string }, string>({
        kind,
        log: createLogger('test', 'silent'),
        handled: handledTable<string>(t.ctx.db),
        run: async (m) => (ran.push(`${kind} ${m.attempt}`), `result of ${kind} ${m.attempt}`),
        failed: (error) => error,
        publish: async (_m, r) => void published.push(r),
      });
    const deliver = (kind: 'task' | 'rollback', task_id: string, attempt: number) =>
      handler(kind)({
        body: { task_id, attempt, type: 'vm', method: 'POST' },
        redelivered: false,
        queue: kind === 'task' ? 'vm' : 'vm_rollback',
      });

    await deliver('task', 'a', 1);
    await deliver('task', 'a', 1);
    assert.deepEqual(ran, ['task 1']);
    assert.deepEqual(published, ['result of task 1', 'result of task 1']);

    // Attempt 2 handled, then attempt 1 comes back (a requeue after a restart): not run, nothing said.
    await deliver('task', 'b', 2);
    await deliver('task', 'b', 1);
    // The task was rolled back; an attempt of it coming late would make again what the rollback removed.
    await deliver('rollback', 'c', 2);
    await deliver('task', 'c', 1);
    assert.deepEqual(ran, ['task 1', 'task 2', 'rollback 2']);
    assert.deepEqual(published, [
      'result of task 1',
      'result of task 1',
      'result of task 2',
      'result of rollback 2',
    ]);
  } finally {
    await t.close();
  }
});
