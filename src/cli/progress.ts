// `--wait`: follows a task to its end through the workspace room (websocket), with long polls of
// GET /task/<id>/?wait= as the safety net (room messages are best effort) and the only source when the room
// cannot be joined. Shows progress on stderr: one line redrawn in place on a terminal
// (`vm web-1: C_D ▸ C_N ▸ U  [12.3s]`), one line per new stage otherwise.
import { Type, type Static } from 'typebox';
import WebSocket from 'ws';
import { FINISHED_STATUSES, type Task } from '../lib/contracts/controller.ts';
import { TaskEvent } from '../lib/contracts/events.ts';
import { checker } from '../lib/contracts/validate.ts';
import { EXIT } from './commands/client.ts';

/** What the follower reads of a task (GET /task/<id>/ answers the whole Task). */
export type TaskView = Pick<
  Task,
  'task_id' | 'workspace' | 'type' | 'method' | 'object' | 'status' | 'stage' | 'error' | 'warning'
>;

export const FINISHED: readonly string[] = FINISHED_STATUSES;

/** What the follower reads of a room's task event; anything else in the room is not ours. */
const RoomTask = Type.Pick(TaskEvent, ['kind', 'task_id', 'status', 'stage', 'error']);
type RoomTask = Static<typeof RoomTask>;
const roomTask = checker(RoomTask);

export class Progress {
  private stages: string[] = [];
  private status = '';
  private error: string | null | undefined;
  private readonly started = Date.now();
  private timer?: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly label: string,
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly tty: boolean = Boolean(out.isTTY),
  ) {
    if (this.tty) {
      this.timer = setInterval(() => this.render(), 100);
      this.timer.unref();
    }
  }

  get seen(): readonly string[] {
    return this.stages;
  }

  update(stage: string | undefined, status: string, error?: string | null): void {
    if (this.closed) return;
    const newStage = Boolean(stage) && stage !== this.stages[this.stages.length - 1];
    if (newStage) this.stages.push(stage!);
    const changed = newStage || status !== this.status || (error && error !== this.error);
    this.status = status;
    if (error) this.error = error;
    if (this.tty) this.render();
    else if (changed) {
      const why = error && !FINISHED.includes(status) ? `: ${error}` : '';
      this.out.write(`${this.label}: ${stage ?? '-'} (${status})${why}  [${this.elapsed()}]\n`);
    }
  }

  private elapsed(): string {
    return `${((Date.now() - this.started) / 1000).toFixed(1)}s`;
  }

  /** The in-place line, cut to the terminal width (a wrapped line could not be redrawn). */
  line(width = this.out.columns || 80): string {
    const tail = `  [${this.elapsed()}]`;
    const max = Math.max(20, width - 1);
    let stages = this.stages.length ? this.stages : ['…'];
    let s = `${this.label}: ${stages.join(' ▸ ')}${tail}`;
    while (s.length > max && stages.length > 1) {
      stages = stages.slice(1);
      s = `${this.label}: … ▸ ${stages.join(' ▸ ')}${tail}`;
    }
    return s.length > max ? s.slice(0, max) : s;
  }

  private render(): void {
    if (!this.closed) this.out.write(`\r\x1b[2K${this.line()}`);
  }

  finish(): void {
    if (this.closed) return;
    if (this.tty) {
      this.render();
      this.out.write('\n');
    }
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
  }
}

export interface FollowSource {
  /** GET /task/<id>/?wait=<seconds>. */
  getTask(id: string, waitSeconds: number, signal?: AbortSignal): Promise<TaskView>;
  /** ws://host:3000/<workspace>/<token>; undefined: poll only. Contains the token: never print it. */
  roomUrl?: string;
}

export interface FollowOptions {
  label: string;
  /** Seconds; no limit when unset. */
  timeout?: number;
  out?: NodeJS.WriteStream;
  /** Seconds of consecutive unreachable polls before giving up (default 120). */
  patience?: number;
}

export class FollowTimeout extends Error {}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Joins the room; resolves undefined when it cannot be joined within 5 s. */
function joinRoom(
  url: string,
  onTask: (m: RoomTask) => void,
  onGone: () => void,
): Promise<WebSocket | undefined> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { handshakeTimeout: 5000 });
    let open = false;
    ws.on('open', () => {
      open = true;
      resolve(ws);
    });
    ws.on('message', (data) => {
      let m: unknown;
      try {
        m = JSON.parse(String(data));
      } catch {
        return; // not ours
      }
      if (roomTask.is(m)) onTask(m);
    });
    ws.on('error', () => (open ? undefined : resolve(undefined)));
    ws.on('close', () => (open ? onGone() : resolve(undefined)));
  });
}

/** Follows task `id` until it finishes; answers its final view. */
export async function followTask(src: FollowSource, id: string, o: FollowOptions): Promise<TaskView> {
  const progress = new Progress(o.label, o.out);
  const deadline = o.timeout ? Date.now() + o.timeout * 1000 : Infinity;
  let wsUp = false;
  let endedInRoom: () => void = () => undefined;
  const roomEnd = new Promise<void>((r) => (endedInRoom = r));
  const onSigint = () => {
    progress.finish();
    process.stderr.write(`stopped following; task ${id} goes on (kloudak tasks show ${id} --wait)\n`);
    process.exit(130);
  };
  process.once('SIGINT', onSigint);
  let ws: WebSocket | undefined;
  try {
    if (src.roomUrl) {
      ws = await joinRoom(
        src.roomUrl,
        (m) => {
          if (m.task_id !== id) return;
          progress.update(m.stage, m.status, m.error);
          if (FINISHED.includes(m.status)) endedInRoom();
        },
        () => (wsUp = false),
      );
      wsUp = Boolean(ws);
    }
    let unreachableSince: number | undefined;
    let first = true;
    for (;;) {
      const remaining = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
      const wait = first ? 0 : Math.min(wsUp ? 10 : 1, remaining);
      first = false;
      const abort = new AbortController();
      let t: TaskView | undefined;
      try {
        t = await Promise.race([src.getTask(id, wait, abort.signal), roomEnd.then(() => undefined)]);
        if (!t) {
          abort.abort();
          t = await src.getTask(id, 0);
        }
        unreachableSince = undefined;
      } catch (e) {
        // A controller instance may be restarting: keep trying for a while.
        if ((e as { code?: number }).code !== EXIT.unavailable) throw e;
        unreachableSince ??= Date.now();
        if (Date.now() - unreachableSince > (o.patience ?? 120) * 1000) throw e;
        await sleep(1000);
      }
      if (t) {
        // With the room up, a poll may answer a stage the room already moved past: only new stages count.
        if (!wsUp || !progress.seen.includes(t.stage) || FINISHED.includes(t.status))
          progress.update(t.stage, t.status, t.error);
        if (FINISHED.includes(t.status)) return t;
      }
      if (Date.now() >= deadline)
        throw new FollowTimeout(
          `task ${id} still ${t?.status ?? 'running'} after ${o.timeout} s (kloudak tasks show ${id} --wait)`,
        );
    }
  } finally {
    process.off('SIGINT', onSigint);
    ws?.close();
    progress.finish();
  }
}
