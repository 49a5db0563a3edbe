// Commands on hosts over SSH, with host keys checked against a known_hosts file (no blind trust), a
// connection kept open between commands (ControlMaster), timeouts and retries of connection failures.
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

export function createSshShell(o: SshOptions): HostShell {
  const base = [
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
