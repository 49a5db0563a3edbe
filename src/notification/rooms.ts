// Local room membership and the broadcast loop. The loop never waits on a socket: ws.send only queues, and a
// member whose queue already holds more than the limit is a slow reader and is dropped, so one stalled
// browser cannot grow this process's memory or delay the rest of the room.
import { WebSocket } from 'ws';

export interface Member {
  socket: WebSocket;
  workspace: string;
  username: string;
}

export interface RoomsOptions {
  /** Bytes a member may have queued (ws bufferedAmount) before it is dropped. */
  maxBufferedBytes: number;
  onSlow(member: Member): void;
}

const TEXT = { binary: false } as const;

export class Rooms {
  private readonly rooms = new Map<string, Set<Member>>();

  constructor(private readonly opts: RoomsOptions) {}

  add(m: Member): void {
    let room = this.rooms.get(m.workspace);
    if (!room) this.rooms.set(m.workspace, (room = new Set()));
    room.add(m);
  }

  remove(m: Member): void {
    const room = this.rooms.get(m.workspace);
    if (!room) return;
    room.delete(m);
    if (room.size === 0) this.rooms.delete(m.workspace);
  }

  /**
   * Queues `data` (UTF-8 JSON text, encoded once for the whole room) to every open member but `except`;
   * answers how many it was queued to.
   */
  deliver(workspace: string, data: Buffer, except?: Member): number {
    const room = this.rooms.get(workspace);
    if (!room) return 0;
    let n = 0;
    for (const m of room) {
      if (m === except || m.socket.readyState !== WebSocket.OPEN) continue;
      if (m.socket.bufferedAmount > this.opts.maxBufferedBytes) {
        this.opts.onSlow(m);
        continue;
      }
      m.socket.send(data, TEXT);
      n++;
    }
    return n;
  }

  get roomCount(): number {
    return this.rooms.size;
  }

  get memberCount(): number {
    let n = 0;
    for (const room of this.rooms.values()) n += room.size;
    return n;
  }
}
