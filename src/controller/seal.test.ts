import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SentTask } from './schema.ts';
import { createSealer } from './seal.ts';

const task = {
  task_id: 't-1',
  type: 'vm',
  method: 'POST',
  password: 'root-pw-1',
  runcmd: ['echo hi'],
  owner: 'ws',
} as unknown as SentTask;

test('sealed: no secret in the clear, opened back whole, only with the key and for the same task', () => {
  const s = createSealer('a key of enough entropy, 32+ chars');
  const stored = s.seal('t-1', task);
  const text = JSON.stringify(stored);
  assert.equal(text.includes('root-pw-1'), false);
  assert.equal(text.includes('echo hi'), false);
  assert.equal(typeof stored.sealed, 'string');
  assert.deepEqual(s.open('t-1', stored), task);
  assert.throws(() => s.open('t-2', stored), /do not authenticate/, 'bound to its task');
  assert.throws(
    () => createSealer('another key').open('t-1', stored),
    /task t-1: .* every controller of one database needs the same KLOUDAK_TASK_KEY/,
  );
});

test('a message without secrets is stored as it is', () => {
  const s = createSealer('k'.repeat(40));
  const plain = { task_id: 't', type: 'network', method: 'DELETE' } as unknown as SentTask;
  assert.deepEqual(s.seal('t', plain), plain);
  assert.deepEqual(s.open('t', s.seal('t', plain)), plain);
});
