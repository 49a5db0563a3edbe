import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HOST_TASKS } from '../../lib/contracts/common.ts';
import type { TaskEvent } from '../../lib/contracts/events.ts';
import { createLogger } from '../../lib/log.ts';
import type { ControllerContext } from '../context.ts';
import { notifyTask, type TaskChange } from './notify.ts';

/** A notifier that records where each event went; `down` rooms throw, as an unreachable service would. */
function recording(down: string[] = []) {
  const sent: [string, TaskEvent][] = [];
  const ctx = {
    log: createLogger('test', 'silent'),
    notifier: {
      send: async (room: string, e: TaskEvent) => {
        if (down.includes(room)) throw new Error('notification unavailable');
        sent.push([room, e]);
      },
    },
  } as Pick<ControllerContext, 'log' | 'notifier'> as ControllerContext;
  return { ctx, sent };
}

const change = (over: Partial<TaskChange>): TaskChange => ({
  id: 't1',
  workspace: 'acme',
  type: 'vm',
  method: 'MIGRATE',
  object: 'web',
  status: 'running',
  stage: 'migrating to kvm-2: 40%',
  ...over,
});

test("a VM's migration is told to its workspace and to the hosts' room (the dashboard's hosts page)", async () => {
  const { ctx, sent } = recording();
  await notifyTask(ctx, change({}));
  assert.deepEqual(
    sent.map(([room]) => room),
    ['acme', HOST_TASKS],
  );
  assert.equal(sent[1][1].task_id, 't1');
  assert.equal(sent[1][1].stage, 'migrating to kvm-2: 40%');
});

test("other tasks go to their own room only; one room's outage does not stop the other", async () => {
  const { ctx, sent } = recording();
  await notifyTask(ctx, change({ method: 'POST' }));
  await notifyTask(ctx, change({ workspace: HOST_TASKS, type: 'host', method: 'DRAIN', object: 'kvm-1' }));
  assert.deepEqual(
    sent.map(([room, e]) => `${room}:${e.method}`),
    ['acme:POST', `${HOST_TASKS}:DRAIN`],
  );
  const half = recording(['acme']);
  await notifyTask(half.ctx, change({}));
  assert.deepEqual(
    half.sent.map(([room]) => room),
    [HOST_TASKS],
  );
});
