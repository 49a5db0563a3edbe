// Leader election among monitoring processes (book chapter 12, "Monitoring Coordination"). The role is
// `Election`; two adapters keep it: ZooKeeper (each process holds an ephemeral sequential znode under
// /kloudak/monitoring, the lowest is leader, each member watches its predecessor) and an in-process group
// (`kloudak up`: the one process is leader; tests and benchmarks: several members in one process).
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import zookeeper from 'node-zookeeper-client';
import { unavailable } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';

export interface Election {
  /** This member's id: stable for the life of the process, safe in queue and znode names. */
  readonly id: string;
  /** Joins the group; resolves once this process is a member. */
  start(): Promise<void>;
  /** True while this member leads (false while disconnected from the coordinator). */
  isLeader(): boolean;
  /** Live members' ids, leader first. */
  members(): Promise<string[]>;
  /** Called whenever leadership or membership may have changed. */
  onChange(fn: () => void): void;
  /** Leaves the group at once (the next member takes over without waiting for a timeout). */
  close(): Promise<void>;
}

/** A member id: host name and pid plus random bits, reduced to [a-z0-9-]. */
export function newMemberId(): string {
  const host =
    hostname()
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 24) || 'host';
  return `${host}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

// ---------------------------------------------------------------------------------------------- in-process

export interface ElectionGroup {
  join(id?: string): Election;
}

/** Members of one process: the first joined (and not closed) leads. */
export function createElectionGroup(): ElectionGroup {
  const live: string[] = [];
  const listeners = new Set<() => void>();
  const changed = () => queueMicrotask(() => listeners.forEach((fn) => fn()));
  return {
    join(id = newMemberId()) {
      let joined = false;
      return {
        id,
        async start() {
          if (joined) return;
          joined = true;
          live.push(id);
          changed();
        },
        isLeader: () => joined && live[0] === id,
        members: async () => [...live],
        onChange: (fn) => void listeners.add(fn),
        async close() {
          if (!joined) return;
          joined = false;
          live.splice(live.indexOf(id), 1);
          changed();
        },
      };
    },
  };
}

/** `kloudak up` and any single monitoring process without ZooKeeper: this process is the leader. */
export function createSingleElection(id?: string): Election {
  return createElectionGroup().join(id);
}

// ----------------------------------------------------------------------------------------------- ZooKeeper

export interface ZkElectionOptions {
  /** host:port[,host:port] */
  connect: string;
  /** Parent znode of the members (default /kloudak/monitoring). */
  path?: string;
  sessionTimeoutMs: number;
  log: Logger;
  id?: string;
}

const SEQ = /^m_(.+)_(\d{10})$/;

/** Members' znodes ordered by sequence number (the lowest leads). */
export function orderMembers(children: string[]): { node: string; id: string; seq: number }[] {
  return children
    .map((node) => {
      const m = SEQ.exec(node);
      return m ? { node, id: m[1], seq: Number(m[2]) } : undefined;
    })
    .filter((x): x is { node: string; id: string; seq: number } => x !== undefined)
    .sort((a, b) => a.seq - b.seq);
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(unavailable(`zookeeper: ${what} timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export function createZkElection(o: ZkElectionOptions): Election {
  const id = o.id ?? newMemberId();
  const root = o.path ?? '/kloudak/monitoring';
  const log = o.log.child({ member: id });
  const opMs = Math.max(5000, o.sessionTimeoutMs);
  const listeners = new Set<() => void>();
  let client: zookeeper.Client | undefined;
  let node: string | undefined; // our znode's name (not path)
  let leader = false;
  let connected = false;
  let closed = false;
  let evaluating: Promise<void> | undefined;
  let again = false;
  let rejoining: Promise<void> | undefined;

  const notify = () => listeners.forEach((fn) => fn());
  const setLeader = (v: boolean) => {
    if (leader === v) return;
    leader = v;
    log.info({ leader: v }, v ? 'monitoring leader: this process' : 'monitoring leadership lost');
    notify();
  };

  const call = <T>(
    what: string,
    fn: (c: zookeeper.Client, cb: (err: Error | null, v: T) => void) => void,
  ): Promise<T> => {
    const c = client;
    if (!c) return Promise.reject(unavailable('zookeeper: not connected'));
    return withTimeout(
      new Promise<T>((resolve, reject) => fn(c, (err, v) => (err ? reject(err) : resolve(v)))),
      opMs,
      what,
    );
  };

  const code = (e: unknown) => (e as zookeeper.ZkError)?.getCode?.();

  async function connectClient(): Promise<void> {
    const c = zookeeper.createClient(o.connect, {
      sessionTimeout: o.sessionTimeoutMs,
      spinDelay: 200,
      retries: 2,
    });
    client = c;
    c.on('state', (s: { name?: string }) => log.debug({ state: s?.name }, 'zookeeper state'));
    c.on('disconnected', () => {
      if (client !== c) return;
      // The session may still live, but nobody can tell us: stop leading until we know.
      connected = false;
      setLeader(false);
    });
    c.on('connected', () => {
      if (client !== c) return;
      connected = true;
      if (node) void evaluate();
    });
    c.on('expired', () => {
      if (client !== c) return;
      log.warn('zookeeper session expired: joining again');
      connected = false;
      node = undefined;
      setLeader(false);
      void rejoin();
    });
    const ready = new Promise<void>((resolve) => c.once('connected', () => resolve()));
    c.connect();
    try {
      await withTimeout(ready, opMs, `connect to ${o.connect}`);
    } catch (e) {
      c.close();
      if (client === c) client = undefined;
      throw e;
    }
    connected = true;
  }

  async function join(): Promise<void> {
    await connectClient();
    await call<string>('mkdirp', (c, cb) => c.mkdirp(root, cb));
    // Guard against a create whose answer was lost: our id in the name tells us whether it happened.
    const mine = orderMembers(await call<string[]>('list members', (c, cb) => c.getChildren(root, cb))).find(
      (m) => m.id === id,
    );
    if (mine) node = mine.node;
    else {
      const data = Buffer.from(JSON.stringify({ id, pid: process.pid, host: hostname() }));
      const path = await call<string>('create member', (c, cb) =>
        c.create(`${root}/m_${id}_`, data, zookeeper.CreateMode.EPHEMERAL_SEQUENTIAL, cb),
      );
      node = path.slice(root.length + 1);
    }
    log.info({ node }, 'joined the monitoring group');
    await evaluate();
  }

  async function rejoin(): Promise<void> {
    if (rejoining || closed) return rejoining;
    rejoining = (async () => {
      client?.close();
      client = undefined;
      for (let attempt = 1; !closed; attempt++) {
        try {
          await join();
          return;
        } catch (e) {
          log.warn({ err: e, attempt }, 'zookeeper: joining failed, retrying');
          const c = client as zookeeper.Client | undefined;
          c?.close();
          client = undefined;
          await new Promise((r) => setTimeout(r, Math.min(5000, 250 * attempt)));
        }
      }
    })().finally(() => (rejoining = undefined));
    return rejoining;
  }

  // Stable functions: the client registers a watcher once per (path, function).
  const onMembers = () => void evaluate().then(() => leader && notify());
  const onPredecessor = (ev: zookeeper.ZkEvent) => {
    if (ev.getType() === zookeeper.Event.NODE_DELETED) void evaluate();
  };

  // Leader if our znode is the lowest; otherwise watch the one just below ours (no herd on every change).
  // The leader also watches the member list, to rebalance work when members come and go.
  function evaluate(): Promise<void> {
    if (evaluating) {
      again = true;
      return evaluating;
    }
    evaluating = (async () => {
      do {
        again = false;
        if (closed || !node || !connected) return;
        try {
          const members = orderMembers(
            await call<string[]>('list members', (c, cb) => c.getChildren(root, null, cb)),
          );
          const idx = members.findIndex((m) => m.node === node);
          if (idx < 0) {
            // Our znode is gone (session replaced): join again.
            node = undefined;
            setLeader(false);
            void rejoin();
            return;
          }
          if (idx === 0) {
            await call<string[]>('watch members', (c, cb) => c.getChildren(root, onMembers, cb));
            setLeader(true);
            continue;
          }
          setLeader(false);
          const pred = `${root}/${members[idx - 1].node}`;
          const stat = await call<zookeeper.Stat | null>('watch predecessor', (c, cb) =>
            c.exists(pred, onPredecessor, cb),
          );
          if (!stat) again = true; // gone between the two calls
        } catch (e) {
          if (code(e) === zookeeper.Exception.NO_NODE) again = true;
          else {
            log.warn({ err: e }, 'zookeeper: election check failed; retrying');
            setLeader(false);
            await new Promise((r) => setTimeout(r, 500));
            again = !closed;
          }
        }
      } while (again && !closed);
    })().finally(() => (evaluating = undefined));
    return evaluating;
  }

  return {
    id,
    async start() {
      await join();
    },
    isLeader: () => leader && connected && !closed,
    async members() {
      const children = await call<string[]>('list members', (c, cb) => c.getChildren(root, cb));
      return orderMembers(children).map((m) => m.id);
    },
    onChange: (fn) => void listeners.add(fn),
    async close() {
      closed = true;
      setLeader(false);
      const c = client;
      client = undefined;
      if (!c) return;
      // Deleting our znode first makes the hand-over immediate; closing the session would do it too.
      if (node && connected)
        await withTimeout(
          new Promise<void>((r) => c.remove(`${root}/${node}`, -1, () => r())),
          2000,
          'leave',
        ).catch(() => undefined);
      c.close();
    },
  };
}
