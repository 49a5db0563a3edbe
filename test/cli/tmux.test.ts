// Issue 8 "Must show": a CLI session in a terminal (tmux) shows the progress display of `vm create --wait`:
// one line redrawn in place while the stages go by, then the final state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { uniqueName } from '../support/env.ts';
import { startPlatform } from '../support/platform.ts';
import { BIN, cliEnv, kloudak, twoStepVmWorker } from './support.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

test('vm create --wait in tmux: the progress line moves through the stages in place, then the final state', async () => {
  const p = await startPlatform('pglite', 'memory');
  const ws = uniqueName('ws');
  const user = uniqueName('u');
  const area = uniqueName('area');
  const socket = uniqueName('kloudak-test');
  const { env, home } = cliEnv();
  const tmux = (...args: string[]) =>
    execFileSync('tmux', ['-L', socket, ...args], { env, encoding: 'utf8' });
  const worker = await twoStepVmWorker(p.bus, ws, 1500);
  try {
    const admin = await p.inv.adminToken();
    await p.inv.call('POST', '/templates/', admin, { name: 'tiny', cpu: 1, ram: 0.125, disk: 1 });
    await p.inv.call('POST', '/areas/', admin, { name: area, subnet: '10.78.0.0/24' });
    await p.inv.user(user);
    const login = await kloudak(env, [
      'login',
      '--user',
      user,
      '--password',
      `${user}-password`,
      '--inventory',
      p.inv.url,
      '--controller',
      p.controllerUrl,
      '--notification',
      p.notificationUrl,
    ]);
    assert.equal(login.code, 0, login.stderr);
    assert.equal((await kloudak(env, ['workspaces', 'create', ws])).code, 0);

    tmux(
      'new-session',
      '-d',
      '-s',
      'cli',
      '-x',
      '120',
      '-y',
      '30',
      'env',
      'PS1=$ ',
      'bash',
      '--noprofile',
      '--norc',
    );
    const line = `XDG_CONFIG_HOME=${quote(home)} ${quote(process.execPath)} ${quote(BIN)} vm create web-1 --template tiny --area ${area} --password pw-123456 --wait; echo "EXIT=$?"`;
    tmux('send-keys', '-t', 'cli', line, 'Enter');

    const frames: string[] = [];
    const deadline = Date.now() + 90_000;
    let screen = '';
    while (!/^EXIT=\d+/m.test(screen)) {
      assert.ok(Date.now() < deadline, `no end in sight:\n${screen}`);
      await sleep(100);
      screen = tmux('capture-pane', '-p', '-t', 'cli');
      frames.push(screen);
    }
    const progressLines = (s: string) => s.split('\n').filter((l) => /^vm web-1: C_D/.test(l));
    // While the VM was on its way: a frame showing the network step but not yet the end.
    assert.ok(
      frames.some((f) => progressLines(f).some((l) => /^vm web-1: C_D ▸ C_N {2}\[\d+\.\ds\]$/.test(l))),
      `no frame caught the C_N stage:\n${frames.at(-1)}`,
    );
    // The timer ran: two frames with different elapsed times on the same stages.
    const times = new Set(frames.flatMap((f) => progressLines(f).map((l) => /\[(\d+\.\d)s\]/.exec(l)?.[1])));
    assert.ok(times.size >= 2, `the elapsed time did not move: ${[...times].join(' ')}`);
    // At the end: one progress line (redrawn, not repeated), the final state, exit 0.
    assert.equal(progressLines(screen).length, 1, screen);
    assert.match(progressLines(screen)[0], /^vm web-1: C_D ▸ C_N ▸ U {2}\[\d+\.\ds\]$/);
    assert.match(screen, /^vm web-1: U {2}ip 10\.78\.0\.\d+ {2}host h1$/m);
    assert.match(screen, /^EXIT=0$/m);
  } finally {
    try {
      execFileSync('tmux', ['-L', socket, 'kill-session', '-t', 'cli'], { stdio: 'ignore' });
    } catch {
      /* already gone */
    }
    try {
      execFileSync('tmux', ['-L', socket, 'kill-server'], { stdio: 'ignore' });
    } catch {
      /* no server left */
    }
    await worker.stop();
    await p.close();
    rmSync(home, { recursive: true, force: true });
  }
});
