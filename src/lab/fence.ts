// The lab's fence agent, `kloudak lab fence <host> <address> <domain>...` (compute's FENCE_COMMAND when the
// lab is the platform's own): it ends the named guests' qemu processes inside that lab host, as cutting the
// host's power would, and leaves the host's daemons and its other guests alone. A real deployment uses an
// IPMI or PDU agent with the same arguments instead.
import { readFile } from 'node:fs/promises';
import { sleep } from './exec.ts';
import { alive, nsInode, pidsInNamespaces } from './procs.ts';

export class FenceError extends Error {
  constructor(
    message: string,
    /** 2: no such lab host; 1: the guests would not die. */
    readonly exitCode: 1 | 2,
  ) {
    super(message);
    this.name = 'FenceError';
  }
}

/** The domain a qemu process runs, from its `-name guest=<name>,...` argument (commas in names doubled). */
export function guestOf(argv: string[]): string | undefined {
  if (!/qemu-system/.test(argv[0] ?? '')) return undefined;
  const i = argv.indexOf('-name');
  const value = i >= 0 ? argv[i + 1] : undefined;
  const m = value ? /^guest=((?:[^,]|,,)+)/.exec(value) : null;
  return m?.[1]?.replace(/,,/g, ',');
}

/** Kills the named domains' qemu processes in lab host `host`; answers their pids once they are gone. */
export async function labFence(host: string, domains: string[], waitMs = 10_000): Promise<number[]> {
  if (!/^kl-h\d+$/.test(host)) throw new FenceError(`not a lab host: ${host}`, 2);
  const netns = await nsInode(`/run/netns/${host}`);
  if (netns === undefined) throw new FenceError(`no lab host ${host} on this machine`, 2);
  const wanted = new Set(domains);
  const killed: number[] = [];
  for (const pid of await pidsInNamespaces(netns, undefined)) {
    const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
    const guest = guestOf(argv);
    if (guest === undefined || !wanted.has(guest)) continue;
    try {
      process.kill(pid, 'SIGKILL');
      killed.push(pid);
    } catch {
      // gone already
    }
  }
  const deadline = Date.now() + waitMs;
  while (killed.some(alive)) {
    if (Date.now() > deadline)
      throw new FenceError(`${host}: still running: ${killed.filter(alive).join(' ')}`, 1);
    await sleep(100);
  }
  return killed;
}

/**
 * `kloudak lab fence <host> <address> <domain>...` as a process: the exit code (0, or FenceError's). bin/kloudak.js
 * runs it without loading the rest of the CLI (~1 s of imports), because it sits in failover's critical path.
 */
export async function fenceCommand(host: string, domains: string[]): Promise<number> {
  try {
    const killed = await labFence(host, domains);
    process.stderr.write(
      `lab fence: ${host}: ${killed.length ? `killed ${killed.join(' ')}` : 'none of them was running'}\n`,
    );
    return 0;
  } catch (e) {
    if (!(e instanceof FenceError)) throw e;
    process.stderr.write(`kloudak: lab fence: ${e.message}\n`);
    return e.exitCode;
  }
}
