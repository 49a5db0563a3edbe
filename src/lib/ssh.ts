// Commands on hosts over SSH, with host keys checked against a known_hosts file (no blind trust), a
// connection kept open between commands (ControlMaster), timeouts and retries of connection failures; and
// interactive programs in a pseudo-terminal on the host (a serial console), over the same connection.
import { spawn } from 'node:child_process';
import { CommandError, run, shellQuote } from './exec.ts';

export interface SshOptions {
  user: string;
  /** Private key file; the agent or ~/.ssh defaults when absent. */
  key?: string;
  /** known_hosts file the host keys are checked against; ~/.ssh/known_hosts when absent. */
  knownHosts?: string;
  connectTimeoutSeconds?: number;
  /** Attempts after the first when the connection itself fails (exit 255). */
  retries?: number;
}

/** Runs programs on a host: the role compute and network use to reach hypervisors. */
export interface HostShell {
  run(
    address: string,
    argv: string[],
    opts?: { input?: string | Buffer; timeoutMs?: number },
  ): Promise<string>;
}

/** An interactive program on a host: bytes in, bytes out, until it ends. */
export interface TerminalSession {
  write(data: Buffer): void;
  onData(fn: (data: Buffer) => void): void;
  /** Called once, when the program (or the connection) ends, with what it last said on stderr. */
  onExit(fn: (why: string) => void): void;
  close(): void;
}

/** Runs interactive programs on hosts in a pseudo-terminal (raw bytes both ways). */
export interface HostTerminals {
  open(address: string, argv: string[]): TerminalSession;
}

/** ssh's options: host keys checked, one kept-open connection per host (ControlMaster), keepalives. */
function sshBase(o: SshOptions): string[] {
  return [
    '-o',
    'BatchMode=yes',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    `ConnectTimeout=${o.connectTimeoutSeconds ?? 10}`,
    '-o',
    'ServerAliveInterval=5',
    '-o',
    'ServerAliveCountMax=3',
    '-o',
    'ControlMaster=auto',
    '-o',
    'ControlPath=/tmp/kloudak-ssh-%C',
    '-o',
    'ControlPersist=120',
    ...(o.knownHosts ? ['-o', `UserKnownHostsFile=${o.knownHosts}`] : []),
    ...(o.key ? ['-i', o.key, '-o', 'IdentitiesOnly=yes'] : []),
  ];
}

export function createSshShell(o: SshOptions): HostShell {
  const base = sshBase(o);
  return {
    async run(address, argv, opts = {}) {
      const retries = o.retries ?? 2;
      for (let attempt = 0; ; attempt++) {
        try {
          return await run('ssh', [...base, `${o.user}@${address}`, '--', argv.map(shellQuote).join(' ')], {
            input: opts.input,
            timeoutMs: opts.timeoutMs ?? 60_000,
          });
        } catch (e) {
          // 255 is ssh's own failure (connection, auth, host key); anything else is the remote program's.
          if (!(e instanceof CommandError) || e.code !== 255 || attempt >= retries) throw e;
          await new Promise((r) => setTimeout(r, 500 * (attempt + 1)));
        }
      }
    },
  };
}

/**
 * `ssh -tt` (a pseudo-terminal on the host even though ours is a pipe) with escapes off (`-e none`: no byte
 * typed in a console is ssh's), over the same kept-open connection as the commands.
 */
export function createSshTerminals(o: SshOptions): HostTerminals {
  const base = sshBase(o);
  return {
    open(address, argv) {
      const child = spawn(
        'ssh',
        [...base, '-tt', '-e', 'none', `${o.user}@${address}`, '--', argv.map(shellQuote).join(' ')],
        { stdio: ['pipe', 'pipe', 'pipe'] },
      );
      let stderr = '';
      let exited: string | undefined;
      const exits: ((why: string) => void)[] = [];
      const end = (why: string) => {
        if (exited !== undefined) return;
        exited = why;
        for (const fn of exits) fn(why);
      };
      child.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString('utf8')).slice(-2000)));
      child.on('error', (e) => end(e.message));
      child.on('close', (code, signal) => end(stderr.trim() || `ssh ended (${signal ?? code})`));
      // A write after the program ended is not a crash of ours (EPIPE).
      child.stdin.on('error', () => undefined);
      return {
        write: (data) => void (child.stdin.writable && child.stdin.write(data)),
        onData: (fn) => void child.stdout.on('data', fn),
        onExit: (fn) => (exited !== undefined ? fn(exited) : void exits.push(fn)),
        close: () => void (child.exitCode === null && child.kill('SIGTERM')),
      };
    },
  };
}
