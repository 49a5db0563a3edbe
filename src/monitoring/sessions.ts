// Long-lived `virsh` shells for monitoring (issue 16 item 7): a check used to start a virsh process per host
// per cycle (~25 ms of CPU each: 1,250 hosts cost 30 s of CPU). A session is one interactive virsh fed
// commands on stdin, its libvirt connection kept open between commands; a host's figures are one batch of
// commands on it (~2 ms). A session costs ~20 MB resident, of which ~3 MB its own (the rest is libvirt's
// shared libraries; measured on libvirt 9: bench/monitoring-cycle.ts), so a worker keeps at most `max` of them: while it owns no more hosts than that, each host has a session (and connection) of its
// own, which also carries the host's heartbeat; past that, hosts share sessions, which reconnect (`connect
// <uri>`) from one host to the next: no process start, but a connection set-up per check.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Runs virsh commands on a host's libvirt connection. */
export interface VirshSessions {
  /** Runs the commands (one per line, `;` joins several) on `uri`'s connection; answers their output. */
  run(uri: string, commands: string[], timeoutMs: number): Promise<string>;
  /** True when `uri` has a session of its own (its connection stays open between calls). */
  dedicated(uri: string): boolean;
  /** True when `uri`'s session holds an open connection to it. */
  connected(uri: string): boolean;
  /** The worker no longer watches `uri`: its session is closed when no other host uses it. */
  release(uri: string): void;
  /** Sessions running and their memory (KiB: resident, and proportional to shared pages), for benchmarks. */
  stats(): { sessions: number; hosts: number; rssKib: number; pssKib: number };
  close(): Promise<void>;
}

export class SessionError extends Error {
  constructor(
    message: string,
    /** 'timeout', 'exit' (the shell died: crash or kill) or 'virsh' (a command reported an error). */
    readonly kind: 'timeout' | 'exit' | 'virsh',
  ) {
    super(message);
    this.name = 'SessionError';
  }
}

// virsh's tokenizer reads quotes and backslashes; a URI that needs them is refused rather than escaped.
const SAFE_URI = /^[A-Za-z0-9+.-]+:\/\/[A-Za-z0-9_.~:@%/?&=+,[\]-]*$/;

export function checkUri(uri: string): string {
  if (!SAFE_URI.test(uri))
    throw new SessionError(`libvirt URI refused (unexpected characters): ${uri}`, 'virsh');
  return uri;
}

// The echoed command line (virsh prints its prompt and each line it reads) holds `"@@""end7@@"`; only
// echo's output holds `@@end7@@`, so the end of an answer cannot be mistaken for the line that asks for it.
const marker = (n: number) => `echo "@@""end${n}@@"`;
const PROMPT_LINE = /virsh [#>] [^\n]*\n/g;
// virsh says this when it re-opened a dropped connection to the same URI: the command then ran.
const BENIGN = /^error: Reconnected to the hypervisor$/;

interface Job {
  uri: string;
  commands: string[];
  timeoutMs: number;
  resolve(out: string): void;
  reject(e: Error): void;
}

export interface SessionOptions {
  /** Default 'virsh'. */
  program?: string;
  /**
   * Milliseconds every call holds its session before its commands run, as a network round trip to a remote
   * host would (benchmarks with local test:/// hosts); 0 in production.
   */
  callLatencyMs?: number;
}

/** One interactive virsh. Jobs run one at a time, in order; a job that times out ends the process. */
export function createVirshSession(o: SessionOptions = {}) {
  let child: ChildProcessWithoutNullStreams | undefined;
  let buffer = '';
  let waiter: ((exited?: string) => void) | undefined;
  let connected: string | undefined;
  let seq = 0;
  const queue: Job[] = [];
  let busy = false;
  let closed = false;

  function start(): ChildProcessWithoutNullStreams {
    // stderr joins stdout (one stream, in order), so an error line belongs to the command before it.
    const c = spawn('sh', ['-c', 'exec "$0" -q 2>&1', o.program ?? 'virsh'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C', TERM: 'dumb' },
    });
    c.stdout.setEncoding('utf8');
    c.stdout.on('data', (d: string) => {
      if (child !== c) return; // a killed shell's last words
      buffer += d;
      waiter?.();
    });
    c.stderr.resume();
    c.stdin.on('error', () => undefined);
    c.once('exit', (code, signal) => {
      if (child === c) {
        child = undefined;
        connected = undefined;
        waiter?.(`virsh exited (${signal ?? code})`);
      }
    });
    c.once('error', (e) => child === c && waiter?.(`virsh could not run: ${e.message}`));
    buffer = '';
    connected = undefined;
    return c;
  }

  function kill(): void {
    const c = child;
    child = undefined;
    connected = undefined;
    if (c && c.exitCode === null) c.kill('SIGKILL');
  }

  /** Sends lines and answers the output up to the end marker, without prompts and echoed lines. */
  function exchange(c: ChildProcessWithoutNullStreams, lines: string[], timeoutMs: number): Promise<string> {
    const n = ++seq;
    const end = `@@end${n}@@`;
    if (c !== child) return Promise.reject(new SessionError('virsh exited', 'exit'));
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiter = undefined;
        kill();
        reject(new SessionError(`virsh timed out after ${timeoutMs} ms`, 'timeout'));
      }, timeoutMs);
      waiter = (exited) => {
        const at = buffer.indexOf(end);
        if (at < 0 && !exited) return;
        clearTimeout(timer);
        waiter = undefined;
        if (at < 0) return reject(new SessionError(exited!, 'exit'));
        const out = buffer.slice(0, at).replace(PROMPT_LINE, '');
        buffer = buffer.slice(at + end.length);
        resolve(out);
      };
      c.stdin.write(`${lines.join('\n')}\n${marker(n)}\n`);
      waiter();
    });
  }

  const errorsIn = (out: string) =>
    out
      .split('\n')
      .filter((l) => l.startsWith('error: ') && !BENIGN.test(l))
      .map((l) => l.slice('error: '.length));

  async function perform(j: Job): Promise<string> {
    const deadline = Date.now() + j.timeoutMs;
    if (o.callLatencyMs) await new Promise((r) => setTimeout(r, o.callLatencyMs));
    if (!child) child = start();
    const c = child;
    if (connected !== j.uri) {
      // A connect of its own first: after a failed connect virsh would send the next commands to its default
      // URI (the local libvirtd), so commands only follow a connect that worked.
      connected = undefined;
      const out = await exchange(c, [`connect '${checkUri(j.uri)}'`], j.timeoutMs);
      const errs = errorsIn(out);
      if (errs.length) throw new SessionError(errs.join('; '), 'virsh');
      connected = j.uri;
    }
    const out = await exchange(c, j.commands, Math.max(1, deadline - Date.now()));
    const errs = errorsIn(out);
    if (errs.length) {
      // The connection may be gone (a host cut off): connect afresh next time.
      if (errs.some((e) => /connect|connection|disconnected|closed|keepalive/i.test(e)))
        connected = undefined;
      throw new SessionError(errs.join('; '), 'virsh');
    }
    return out;
  }

  async function drain(): Promise<void> {
    if (busy) return;
    busy = true;
    try {
      for (let j = queue.shift(); j; j = queue.shift()) {
        try {
          j.resolve(await perform(j));
        } catch (e) {
          j.reject(e as Error);
        }
      }
    } finally {
      busy = false;
    }
  }

  return {
    /** The URI whose connection is open (after a successful connect), if any. */
    get connected() {
      return connected;
    },
    /** Jobs queued or running. */
    get pending() {
      return queue.length + (busy ? 1 : 0);
    },
    run(uri: string, commands: string[], timeoutMs: number): Promise<string> {
      if (closed) return Promise.reject(new SessionError('session closed', 'exit'));
      return new Promise<string>((resolve, reject) => {
        queue.push({ uri, commands, timeoutMs, resolve, reject });
        void drain();
      });
    },
    /** Resident and proportional (shared pages divided among their users) memory of the shell, KiB. */
    memoryKib(): { rss: number; pss: number } {
      if (!child?.pid) return { rss: 0, pss: 0 };
      try {
        const t = readFileSync(`/proc/${child.pid}/smaps_rollup`, 'utf8');
        return {
          rss: Number(/^Rss:\s+(\d+)/m.exec(t)?.[1] ?? 0),
          pss: Number(/^Pss:\s+(\d+)/m.exec(t)?.[1] ?? 0),
        };
      } catch {
        return { rss: 0, pss: 0 };
      }
    },
    close(): void {
      closed = true;
      for (const j of queue.splice(0)) j.reject(new SessionError('session closed', 'exit'));
      const c = child;
      child = undefined;
      if (c && c.exitCode === null) {
        c.stdin.end('quit\n');
        // A shell stuck in a call to a host that went away does not read its input: killed after a second.
        setTimeout(() => c.exitCode === null && c.kill('SIGKILL'), 1000).unref();
      }
    },
  };
}

export type VirshSession = ReturnType<typeof createVirshSession>;

export interface SessionPoolOptions extends SessionOptions {
  /** Most sessions at once (each is one virsh process). */
  max: number;
}

/** A worker's sessions: one per host up to `max`, then shared by the hosts with the fewest sharing it. */
export function createVirshSessions(o: SessionPoolOptions): VirshSessions {
  const sessions = new Set<VirshSession>();
  const hostsOf = new Map<VirshSession, Set<string>>();
  const sessionOf = new Map<string, VirshSession>();

  function sessionFor(uri: string): VirshSession {
    const have = sessionOf.get(uri);
    if (have) return have;
    let s: VirshSession | undefined;
    if (sessions.size < o.max) {
      s = createVirshSession(o);
      sessions.add(s);
      hostsOf.set(s, new Set());
    } else {
      for (const c of sessions) if (!s || hostsOf.get(c)!.size < hostsOf.get(s)!.size) s = c;
    }
    hostsOf.get(s!)!.add(uri);
    sessionOf.set(uri, s!);
    return s!;
  }

  return {
    run: (uri, commands, timeoutMs) => sessionFor(uri).run(uri, commands, timeoutMs),
    dedicated: (uri) => {
      const s = sessionOf.get(uri);
      return s !== undefined && hostsOf.get(s)!.size === 1;
    },
    connected: (uri) => sessionOf.get(uri)?.connected === uri,
    release(uri) {
      const s = sessionOf.get(uri);
      if (!s) return;
      sessionOf.delete(uri);
      const hosts = hostsOf.get(s)!;
      hosts.delete(uri);
      if (!hosts.size) {
        sessions.delete(s);
        hostsOf.delete(s);
        s.close();
      }
    },
    stats: () => {
      const mem = [...sessions].map((s) => s.memoryKib());
      return {
        sessions: sessions.size,
        hosts: sessionOf.size,
        rssKib: mem.reduce((sum, m) => sum + m.rss, 0),
        pssKib: mem.reduce((sum, m) => sum + m.pss, 0),
      };
    },
    async close() {
      for (const s of sessions) s.close();
      sessions.clear();
      hostsOf.clear();
      sessionOf.clear();
    },
  };
}
