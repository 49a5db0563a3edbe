// Command wrappers of the lab: every external program runs through execFile with an argument array and a
// timeout, so no variable ever passes through a shell.
import { spawn } from 'node:child_process';

// The lab runs programs like every adapter does (src/lib/exec.ts); what it adds is namespaces and daemons.
export { CommandError, run, tryRun, type RunOptions } from '../lib/exec.ts';
import { CommandError, run, tryRun, type RunOptions } from '../lib/exec.ts';

/**
 * Starts a self-daemonizing program (libvirtd -d, sshd, ovs-ctl): its stdio goes to /dev/null so a daemon
 * holding inherited pipes cannot stall us, and we wait only for the launcher to exit.
 */
export function runDaemon(cmd: string, args: string[], timeoutMs = 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: 'ignore' });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new CommandError([cmd, ...args], 'timeout', 'launcher did not exit'));
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new CommandError([cmd, ...args], null, e.message));
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else
        reject(
          new CommandError([cmd, ...args], code ?? signal, 'launcher failed (its output went to /dev/null)'),
        );
    });
  });
}

/** The host's UTS namespace file (its own hostname) sits next to its mount namespace file. */
export const utsNsFile = (mntNsFile: string): string => `${mntNsFile}.uts`;

/** The argument prefix that runs a program inside a lab host's mount, network and UTS namespaces. */
export function nsenterArgs(mntNsFile: string, netns: string): string[] {
  return [`--mount=${mntNsFile}`, `--net=/run/netns/${netns}`, `--uts=${utsNsFile(mntNsFile)}`, '--'];
}

/** Runs a program inside a lab host (its mount + network namespace). */
export function runIn(
  mntNsFile: string,
  netns: string,
  cmd: string,
  args: string[],
  opts: RunOptions = {},
): Promise<string> {
  return run('nsenter', [...nsenterArgs(mntNsFile, netns), cmd, ...args], opts);
}

export function tryRunIn(
  mntNsFile: string,
  netns: string,
  cmd: string,
  args: string[],
  opts: RunOptions = {},
): Promise<boolean> {
  return tryRun('nsenter', [...nsenterArgs(mntNsFile, netns), cmd, ...args], opts);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls check until it returns a value other than undefined, or throws after timeoutMs. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  everyMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
