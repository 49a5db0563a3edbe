// The --wait follower: stages come from the workspace room while long polls only watch for the end; with no
// room, polls alone; the in-place line fits the terminal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocketServer } from 'ws';
import { followTask, Progress, type TaskView } from '../../src/cli/progress.ts';

const ID = '00000000-0000-4000-8000-000000000001';
const view = (status: TaskView['status'], stage: string, error: string | null = null): TaskView => ({
  task_id: ID,
  workspace: 'w',
  type: 'vm',
  method: 'POST',
  object: 'web-1',
  status,
  stage,
  error,
});

function capture(tty: boolean, columns = 80) {
  const chunks: string[] = [];
  const out = {
    isTTY: tty,
    columns,
    write: (s: string) => chunks.push(s) > 0,
  } as unknown as NodeJS.WriteStream;
  return { out, text: () => chunks.join('') };
}

test('stages from the room; polls that never see them still end the task', async () => {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((r) => wss.once('listening', r));
  const port = (wss.address() as { port: number }).port;
  let finished = false;
  wss.on('connection', (sock, req) => {
    assert.equal(req.url, '/w/tok');
    const send = (m: object) => sock.send(JSON.stringify({ kind: 'task', task_id: ID, ...m }));
    setTimeout(() => send({ task_id: 'someone-else', status: 'running', stage: 'X' }), 50);
    setTimeout(() => send({ status: 'running', stage: 'C_N', state: 'C_N' }), 100);
    setTimeout(() => {
      finished = true;
      send({ status: 'successful', stage: 'U', state: 'U' });
    }, 200);
  });
  const polls: number[] = [];
  const getTask = async (_id: string, wait: number, signal?: AbortSignal) => {
    polls.push(wait);
    if (finished) return view('successful', 'U');
    if (wait === 0) return view('pending', 'C_D');
    // A long poll: answers only when the wait runs out, or is abandoned when the room says the task ended.
    return new Promise<TaskView>((resolve, reject) => {
      const t = setTimeout(() => resolve(view('running', 'C_D')), wait * 1000);
      signal?.addEventListener('abort', () => {
        clearTimeout(t);
        reject(new Error('aborted'));
      });
    });
  };
  const { out, text } = capture(false);
  try {
    const t = await followTask({ getTask, roomUrl: `ws://127.0.0.1:${port}/w/tok` }, ID, {
      label: 'vm web-1',
      out,
    });
    assert.equal(t.status, 'successful');
    const lines = text()
      .trim()
      .split('\n')
      .map((l) => l.replace(/\s+\[.*$/, ''));
    assert.deepEqual(lines, [
      'vm web-1: C_D (pending)',
      'vm web-1: C_N (running)',
      'vm web-1: U (successful)',
    ]);
    assert.deepEqual(
      polls,
      [0, 10, 0],
      'one long poll (10 s with the room), abandoned when the room told the end',
    );
  } finally {
    wss.close();
  }
});

test('no room: short polls show each stage; a failure ends it with the error', async () => {
  const answers = [
    view('pending', 'C_D'),
    view('running', 'retrying', 'boom'),
    view('rolling_back', 'rolling back', 'boom'),
    view('rolled_back', 'rolled back', 'boom'),
  ];
  let i = 0;
  const polls: number[] = [];
  const getTask = async (_id: string, wait: number) => {
    polls.push(wait);
    return answers[Math.min(i++, answers.length - 1)];
  };
  const { out, text } = capture(false);
  const t = await followTask({ getTask, roomUrl: 'ws://127.0.0.1:1/w/tok' }, ID, { label: 'vm web-1', out });
  assert.equal(t.status, 'rolled_back');
  assert.deepEqual(polls, [0, 1, 1, 1]);
  assert.match(text(), /vm web-1: retrying \(running\): boom/);
  assert.match(text(), /vm web-1: rolled back \(rolled_back\)/);
});

test('a controller that is briefly unreachable does not end the follow', async () => {
  let i = 0;
  const getTask = async () => {
    i++;
    if (i === 2) throw Object.assign(new Error('cannot reach'), { code: 5 });
    return i < 3 ? view('pending', 'C_D') : view('successful', 'U');
  };
  const { out } = capture(false);
  const t = await followTask({ getTask }, ID, { label: 'vm web-1', out });
  assert.equal(t.status, 'successful');
});

test('the terminal line: stages with arrows and the time, redrawn in place, cut to the width', () => {
  const { out, text } = capture(true, 40);
  const p = new Progress('vm web-1', out);
  p.update('C_D', 'pending');
  p.update('C_N', 'running');
  p.update('U', 'successful');
  p.finish();
  assert.match(p.line(), /^vm web-1: C_D ▸ C_N ▸ U {2}\[\d+\.\ds\]$/);
  assert.ok(text().includes('\r\x1b[2K'), 'redrawn in place');
  assert.ok(text().endsWith('\n'));
  const long = new Progress('vm a-very-long-name-indeed', capture(true, 40).out);
  for (const s of ['C_D', 'retrying', 'C_D', 'retrying', 'C_N', 'U']) long.update(s, 'running');
  const line = long.line();
  long.finish();
  assert.ok(line.length <= 39, line);
  assert.match(line, /… ▸ .*U {2}\[/);
});
