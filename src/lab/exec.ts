// Command wrappers of the lab: every external program runs through execFile with an argument array and a
// timeout, so no variable ever passes through a shell.
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export interface RunOptions {
  timeoutMs?: number;
  input?: string;
  env?: NodeJS.ProcessEnv;
}

export class CommandError extends Error {
  constructor(
    readonly cmd: string[],
    readonly code: number | string | null,
    readonly stderr: string,
  ) {
    super(`${cmd.join(' ')} failed (${code}): ${stderr.trim().slice(0, 500)}`);
  }
}

/** Runs a program to completion and returns its stdout; throws CommandError on failure or timeout. */
export async function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  const timeout = opts.timeoutMs ?? 30_000;
  if (opts.input !== undefined) return runWithInput(cmd, args, opts.input, timeout);
  try {
    const { stdout } = await execFileP(cmd, args, {
      timeout,
      killSignal: 'SIGKILL',
      maxBuffer: 16 * 1024 * 1024,
      env: opts.env ?? process.env,
    });
    return stdout;
  } catch (e) {
    const err = e as { code?: number | string; stderr?: string; killed?: boolean; message: string };
    throw new CommandError([cmd, ...args], err.killed ? 'timeout' : (err.code ?? null), err.stderr || err.message);
  }
}

/** Like run, but ignores failure (cleanup of things that may not exist); returns whether it succeeded. */
export async function tryRun(cmd: string, args: string[], opts: RunOptions = {}): Promise<boolean> {
  try {
    await run(cmd, args, opts);
    return true;
  } catch {
    return false;
  }
}

function runWithInput(cmd: string, args: string[], input: string, timeout: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err) reject(new CommandError([cmd, ...args], err.code ?? null, stderr || err.message));
      else resolve(stdout);
    });
    child.stdin?.end(input);
  });
}

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
      else reject(new CommandError([cmd, ...args], code ?? signal, 'launcher failed (its output went to /dev/null)'));
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
export function runIn(mntNsFile: string, netns: string, cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  return run('nsenter', [...nsenterArgs(mntNsFile, netns), cmd, ...args], opts);
}

export function tryRunIn(mntNsFile: string, netns: string, cmd: string, args: string[], opts: RunOptions = {}): Promise<boolean> {
  return tryRun('nsenter', [...nsenterArgs(mntNsFile, netns), cmd, ...args], opts);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls check until it returns a value other than undefined, or throws after timeoutMs. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
