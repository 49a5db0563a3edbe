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
}

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
}): ConsoleHub {
  const open = new Map<string, Session>();
  const lingerMs = o.lingerMs ?? 10_000;
  const replayBytes = o.replayBytes ?? 16 * 1024;

  function start(address: string, domain: string): Session {
    const term = o.terminals.open(address, consoleCommand(domain));
    const s: Session = { term, clients: new Set(), recent: [], recentBytes: 0 };
    term.onData((data) => {
      s.recent.push(data);
      s.recentBytes += data.length;
      while (s.recentBytes - s.recent[0].length >= replayBytes) s.recentBytes -= s.recent.shift()!.length;
      for (const c of s.clients) c.send(data);
    });
    term.onExit((why) => {
      if (open.get(domain) === s) open.delete(domain);
      clearTimeout(s.linger);
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
          if (clean.length) session.term.write(clean);
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
