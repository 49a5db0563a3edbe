// Finding and ending a lab host's processes: every process whose network or mount namespace is the host's
// (daemons, sshd sessions, qemu), so nothing survives a teardown even after a killed run lost its record.
import { readdir, readlink, stat, readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { sleep } from './exec.ts';

/** The namespace inode a /proc/<pid>/ns/* link or a bind-mounted ns file refers to. */
export async function nsInode(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).ino;
  } catch {
    return undefined;
  }
}

async function linkInode(pid: string, kind: 'net' | 'mnt'): Promise<number | undefined> {
  try {
    const m = /\[(\d+)\]/.exec(await readlink(`/proc/${pid}/ns/${kind}`));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Pids of processes living in the given net or mnt namespaces (inodes), this process excluded. */
export async function pidsInNamespaces(
  netIno: number | undefined,
  mntIno: number | undefined,
): Promise<number[]> {
  if (netIno === undefined && mntIno === undefined) return [];
  const pids: number[] = [];
  for (const p of await readdir('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    const [net, mnt] = await Promise.all([linkInode(p, 'net'), linkInode(p, 'mnt')]);
    if ((netIno !== undefined && net === netIno) || (mntIno !== undefined && mnt === mntIno))
      pids.push(Number(p));
  }
  return pids;
}

/** A zombie counts as gone: it holds no resources, and its parent (maybe not ours) reaps it when it will. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** TERM, then KILL what is left after graceMs; returns when all are gone (or after a last wait). */
export async function killAll(pids: number[], graceMs = 3000): Promise<void> {
  const send = (sig: NodeJS.Signals) => {
    for (const pid of pids) {
      try {
        process.kill(pid, sig);
      } catch {
        // already gone
      }
    }
  };
  send('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (pids.some(alive) && Date.now() < deadline) await sleep(100);
  if (pids.some(alive)) send('SIGKILL');
  // A process in uninterruptible sleep (qemu flushing its disk on a busy machine) dies only when it wakes.
  const last = Date.now() + 15_000;
  while (pids.some(alive) && Date.now() < last) await sleep(100);
}

export interface ProcInfo {
  pid: number;
  ppid: number;
  comm: string;
}

/** Name and parent of each pid (those that vanished meanwhile are left out). */
export async function procInfo(pids: number[]): Promise<ProcInfo[]> {
  const out: ProcInfo[] = [];
  for (const pid of pids) {
    try {
      // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces, so split at the last ')'.
      const s = await readFile(`/proc/${pid}/stat`, 'utf8');
      const close = s.lastIndexOf(')');
      const comm = s.slice(s.indexOf('(') + 1, close);
      const ppid = Number(s.slice(close + 2).split(' ')[1]);
      out.push({ pid, ppid, comm });
    } catch {
      // exited
    }
  }
  return out;
}
