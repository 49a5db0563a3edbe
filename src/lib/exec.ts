// Running programs: always execFile with an argument array and a timeout, never a shell string built from
// variables. Failures come back as CommandError with the exit code, for adapters to turn into results.
import { execFile } from 'node:child_process';

export interface RunOptions {
  timeoutMs?: number;
  /** Bytes written to the program's stdin. */
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
}

export class CommandError extends Error {
  constructor(
    readonly cmd: string[],
    /** Exit code, or 'timeout' / an errno name when the program did not run to its end. */
    readonly code: number | string | null,
    readonly stderr: string,
  ) {
    super(`${cmd[0]} ${cmd[1] ?? ''} failed (${code}): ${stderr.trim().slice(0, 500)}`);
    this.name = 'CommandError';
  }
}

/** Runs a program to completion and answers its stdout; throws CommandError on a non-zero exit or timeout. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      {
        timeout: opts.timeoutMs ?? 30_000,
        killSignal: 'SIGKILL',
        maxBuffer: 32 << 20,
        env: opts.env ?? process.env,
      },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        const e = err as NodeJS.ErrnoException & {
          killed?: boolean;
          code?: number | string;
          signal?: string | null;
        };
        const code = e.killed ? 'timeout' : (e.code ?? e.signal ?? null);
        reject(new CommandError([cmd, ...args], code, String(stderr || e.message)));
      },
    );
    // A program may exit without reading its input: that is its answer, not a crash of ours (EPIPE).
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(opts.input);
  });
}

export async function tryRun(cmd: string, args: string[], opts: RunOptions = {}): Promise<boolean> {
  try {
    await run(cmd, args, opts);
    return true;
  } catch {
    return false;
  }
}

/** Quotes one argument for a POSIX shell (ssh passes the remote command to the remote user's shell). */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_./=:@%+-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
