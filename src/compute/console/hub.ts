// A VM's serial console, shared: one `virsh console` per domain (run on its host in a pseudo-terminal over
// compute's SSH connection: no port is opened on the host), its output fanned out to every client attached,
// every client's input written to it. A client that joins late first gets the recent output. The session ends
// a little after its last client leaves, or when the console ends (the VM stopped): its clients are told why.
import { CONSOLE_ESCAPE } from '../../lib/console-protocol.ts';
import type { Logger } from '../../lib/log.ts';
import type { HostTerminals, TerminalSession } from '../../lib/ssh.ts';

/** Ctrl-]: virsh console's escape. No client may end the session for everyone: it never reaches virsh. */
const ESCAPE = CONSOLE_ESCAPE;

export interface ConsoleClient {
  send(data: Buffer): void;
  /** The session ended (why, in a few words). */
  end(why: string): void;
}

export interface Attachment {
  input(data: Buffer): void;
  detach(): void;
}

export interface ConsoleHub {
  attach(target: { address: string; domain: string }, client: ConsoleClient): Attachment;
  /** Sessions open now, by domain (for tests and metrics). */
  sessions(): string[];
  close(): void;
}

interface Session {
  term: TerminalSession;
  clients: Set<ConsoleClient>;
  recent: Buffer[];
  recentBytes: number;
  linger?: NodeJS.Timeout;
  /** Until virsh has attached: its banner is held back (virsh's own lines, not the guest's output). */
  attaching: { banner: Buffer; timer?: NodeJS.Timeout } | undefined;
  /** Until virsh has attached and settled, users' input waits in order (virsh flushes what comes before). */
  held: Buffer[] | undefined;
}

/** virsh console's last banner line; it makes its terminal raw (flushing pending input) right after. */
const BANNER_END = /Escape character is[^\n]*\n/;

/** The command that attaches to a domain's serial console on its host. `--force`: a console left open by a
 * compute that died (or an operator's virsh) is taken over, since this hub is where every user shares it. */
export const consoleCommand = (domain: string) => [
  'virsh',
  '-c',
  'qemu:///system',
  'console',
  '--force',
  domain,
];

export function createConsoleHub(o: {
  terminals: HostTerminals;
  log: Logger;
  /** How long a session stays open after its last client left. */
  lingerMs?: number;
  /** Output kept for clients that join later. */
  replayBytes?: number;
  /** How long input waits after virsh's banner, and at most for the banner (a virsh that prints none). */
  settleMs?: number;
  bannerWaitMs?: number;
}): ConsoleHub {
  const open = new Map<string, Session>();
  const lingerMs = o.lingerMs ?? 10_000;
  const replayBytes = o.replayBytes ?? 16 * 1024;
  const settleMs = o.settleMs ?? 1000;
  const bannerWaitMs = o.bannerWaitMs ?? 10_000;

  function start(address: string, domain: string): Session {
    const term = o.terminals.open(address, consoleCommand(domain));
    const s: Session = {
      term,
      clients: new Set(),
      recent: [],
      recentBytes: 0,
      attaching: { banner: Buffer.alloc(0) },
      held: [],
    };
    const attached = (rest: Buffer) => {
      const a = s.attaching;
      if (!a) return;
      clearTimeout(a.timer);
      s.attaching = undefined;
      if (rest.length) output(rest);
      // Input typed meanwhile (and until then) goes once virsh has made its terminal raw.
      setTimeout(() => {
        const held = s.held ?? [];
        s.held = undefined;
        for (const b of held) term.write(b);
      }, settleMs).unref();
    };
    const output = (data: Buffer) => {
      s.recent.push(data);
      s.recentBytes += data.length;
      while (s.recentBytes - s.recent[0].length >= replayBytes) s.recentBytes -= s.recent.shift()!.length;
      for (const c of s.clients) c.send(data);
    };
    term.onData((data) => {
      const a = s.attaching;
      if (!a) return output(data);
      // virsh's own lines (polkit notes, "Connected to domain", the escape) are not the guest's output.
      a.banner = Buffer.concat([a.banner, data]);
      const m = BANNER_END.exec(a.banner.toString('latin1'));
      if (m) attached(a.banner.subarray(m.index + m[0].length));
    });
    s.attaching!.timer = setTimeout(() => attached(s.attaching?.banner ?? Buffer.alloc(0)), bannerWaitMs);
    s.attaching!.timer.unref();
    term.onExit((why) => {
      if (open.get(domain) === s) open.delete(domain);
      clearTimeout(s.linger);
      clearTimeout(s.attaching?.timer);
      o.log.info({ domain, why }, 'console session ended');
      for (const c of s.clients) c.end(why);
      s.clients.clear();
    });
    o.log.info({ domain, host: address }, 'console session opened');
    return s;
  }

  return {
    attach(target, client) {
      let s = open.get(target.domain);
      if (!s) {
        s = start(target.address, target.domain);
        open.set(target.domain, s);
      }
      const session = s;
      clearTimeout(session.linger);
      session.linger = undefined;
      if (session.recent.length) client.send(Buffer.concat(session.recent));
      session.clients.add(client);
      return {
        input(data) {
          const clean = data.includes(ESCAPE) ? Buffer.from(data.filter((b) => b !== ESCAPE)) : data;
          if (!clean.length) return;
          if (session.held) session.held.push(clean);
          else session.term.write(clean);
        },
        detach() {
          if (!session.clients.delete(client) || session.clients.size) return;
          session.linger = setTimeout(() => {
            if (session.clients.size) return;
            if (open.get(target.domain) === session) open.delete(target.domain);
            session.term.close();
          }, lingerMs);
          session.linger.unref();
        },
      };
    },
    sessions: () => [...open.keys()],
    close() {
      for (const s of open.values()) {
        clearTimeout(s.linger);
        s.term.close();
      }
      open.clear();
    },
  };
}
