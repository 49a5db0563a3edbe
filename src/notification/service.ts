// The notification service: one websocket room per workspace at ws://host:3000/<workspace>/<token>, on the
// same port as the HTTP side (/healthz, /metrics, /openapi.json). Tokens are checked before the handshake
// completes, so an opened connection is already a room member and hears every later message. A member stays
// only while it may: when inventory's change feed says its standing changed (removed, flags, logout,
// disabled, the workspace renamed or deleted), its token and membership are checked again, and a member
// who lost access is closed (4401 for a revoked token, 4403 for a lost membership).
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { decodeJwt } from 'jose';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { Principal } from '../lib/auth.ts';
import { HOST_TASKS } from '../lib/contracts/common.ts';
import { serviceHolds } from '../lib/rights.ts';
import type { Authority, Changed } from '../lib/authority.ts';
import { isAppError } from '../lib/errors.ts';
import { createApp, listen } from '../lib/http.ts';
import type { Logger } from '../lib/log.ts';
import { createLocalFanout, createRedisFanout, type Fanout } from './fanout.ts';
import { createNotificationMetrics } from './metrics.ts';
import { CLOSE, parseRoomPath, type RoomPath } from './protocol.ts';
import { Rooms, type Member } from './rooms.ts';

export interface NotificationOptions {
  port: number;
  host?: string;
  /** Checks tokens and answers callers' current standing; its change feed re-checks open rooms. */
  auth: Authority;
  /** Redis URL (config REDIS) for fan-out between instances; without it, delivery stays in this process. */
  redisUrl?: string;
  log: Logger;
  /** How often members are pinged; one missing pong by the next ping drops the member. */
  pingIntervalMs?: number;
  /** Bytes queued for one member before it counts as a slow reader and is dropped. */
  maxBufferedBytes?: number;
  /** Largest message a sender may send. */
  maxPayloadBytes?: number;
}

export interface NotificationService {
  /** The bound port (a free one when asked for 0). */
  port: number;
  /** This instance's id in the fan-out. */
  instanceId: string;
  close(): Promise<void>;
}

interface Conn extends Member {
  principal: Principal;
  /** Kept to check the member again when its standing changes (never logged). */
  token: string;
  /** The workspace's id when the member joined: a rename or a re-made workspace is another room. */
  workspaceId?: number;
  sendOnly: boolean;
  alive: boolean;
  seq: number;
  expiry?: NodeJS.Timeout;
}

type Verdict =
  | { ok: true; path: RoomPath; principal: Principal; exp?: number }
  | { ok: false; code: number; reason: string };

const MAX_TIMER_MS = 2 ** 31 - 1;

/** Whether a user may be in a room: a workspace's for its members; the hosts' room (drains, restores, VM moves
 * of every workspace: the dashboard's hosts page) for admins only. */
function admitted(p: Principal, workspace: string): boolean {
  return workspace === HOST_TASKS ? p.isAdmin : Boolean(p.workspaces[workspace]);
}

export async function createNotificationService(o: NotificationOptions): Promise<NotificationService> {
  const log = o.log;
  const instanceId = randomUUID();
  const pingIntervalMs = o.pingIntervalMs ?? 20_000;
  const conns = new Set<Conn>();
  const handshaking = new Set<Duplex>();
  let closing = false;

  let fanout: Fanout = createLocalFanout();
  const app = await createApp({
    service: 'notification',
    log,
    description: 'Workspace notification rooms over websockets: ws://host:3000/<workspace>/<token>.',
    health: async () => {
      if (!fanout.healthy) throw new Error('redis fan-out unavailable');
    },
  });
  const rooms = new Rooms({
    maxBufferedBytes: o.maxBufferedBytes ?? 1 << 20,
    onSlow: (m) => drop(m as Conn, 'slow'),
  });
  const metrics = createNotificationMetrics(app.metrics, () => ({
    members: rooms.memberCount,
    senders: conns.size - rooms.memberCount,
    rooms: rooms.roomCount,
  }));
  if (o.redisUrl) {
    fanout = createRedisFanout({
      url: o.redisUrl,
      instanceId,
      log,
      onMessage: (workspace, data) => {
        metrics.messages.inc({ origin: 'remote' });
        metrics.deliveries.inc(rooms.deliver(workspace, data));
      },
      onPublishError: () => metrics.publishErrors.inc(),
    });
  }

  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: o.maxPayloadBytes ?? 1 << 20,
  });

  function drop(c: Conn, reason: 'slow' | 'no_pong'): void {
    metrics.dropped.inc({ reason });
    log.info({ workspace: c.workspace, username: c.username, reason }, 'notification member dropped');
    // terminate, not close: a close frame would queue behind the very backlog that got it dropped.
    c.socket.terminate();
  }

  async function judge(path: RoomPath | undefined): Promise<Verdict> {
    if (!path) return { ok: false, code: CLOSE.notFound, reason: 'unknown path: use /<workspace>/<token>' };
    let principal: Principal;
    try {
      principal = await o.auth.verify(path.token);
    } catch (e) {
      if (isAppError(e) && e.kind === 'unauthenticated')
        return { ok: false, code: CLOSE.unauthenticated, reason: 'invalid or expired token' };
      log.warn({ err: (e as Error).message }, 'token check failed');
      return { ok: false, code: CLOSE.unavailable, reason: 'token check unavailable, try again' };
    }
    if (path.sendOnly && !serviceHolds(principal, 'notify'))
      return {
        ok: false,
        code: CLOSE.notAllowed,
        reason: principal.isService ? 'this service may not send' : 'only service tokens may send',
      };
    if (!serviceHolds(principal, 'notify') && !admitted(principal, path.workspace))
      return { ok: false, code: CLOSE.notAllowed, reason: `not a member of workspace ${path.workspace}` };
    return { ok: true, path, principal, exp: decodeJwt(path.token).exp };
  }

  async function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy());
    if (closing) return void socket.destroy();
    handshaking.add(socket);
    // Never log req.url: the token is in the path.
    const verdict = await judge(parseRoomPath(req.url ?? '/'));
    // Only room members hold the room's fan-out subscription; send-only links never hear the room.
    const room = verdict.ok && !verdict.path.sendOnly ? verdict.path.workspace : undefined;
    if (room) await fanout.acquire(room);
    handshaking.delete(socket);
    let released = !room;
    const release = () => {
      if (released || !room) return;
      released = true;
      fanout.release(room);
    };
    if (closing || socket.destroyed) {
      release();
      return void socket.destroy();
    }
    let opened = false;
    // A bad handshake (not a websocket request) is answered by ws itself and never calls back.
    socket.once('close', () => {
      if (!opened) release();
    });
    wss.handleUpgrade(req, socket, head, (ws) => {
      opened = true;
      if (!verdict.ok) {
        metrics.rejected.inc({ code: String(verdict.code) });
        log.debug({ code: verdict.code }, 'notification connection refused');
        ws.on('error', () => {});
        ws.close(verdict.code, verdict.reason);
        return;
      }
      attach(ws, verdict.path, verdict.principal, verdict.exp, release);
    });
  }

  function attach(
    ws: WebSocket,
    path: RoomPath,
    principal: Principal,
    exp: number | undefined,
    release: () => void,
  ): void {
    const c: Conn = {
      socket: ws,
      workspace: path.workspace,
      username: principal.username,
      principal,
      token: path.token,
      workspaceId: principal.workspaces[path.workspace]?.id,
      sendOnly: path.sendOnly,
      alive: true,
      seq: 0,
    };
    conns.add(c);
    if (!c.sendOnly) rooms.add(c);
    if (exp !== undefined) {
      // The room stays open only as long as the token that opened it.
      const ms = Math.min(exp * 1000 - Date.now(), MAX_TIMER_MS);
      c.expiry = setTimeout(() => ws.close(CLOSE.unauthenticated, 'token expired'), Math.max(ms, 0));
      c.expiry.unref();
    }
    log.debug(
      { workspace: c.workspace, username: c.username, sendOnly: c.sendOnly },
      'notification connection opened',
    );
    ws.on('pong', () => (c.alive = true));
    ws.on('error', (e) => log.debug({ err: e.message, workspace: c.workspace }, 'notification socket error'));
    ws.on('message', (data, isBinary) => onMessage(c, data, isBinary));
    ws.on('close', () => {
      conns.delete(c);
      clearTimeout(c.expiry);
      if (!c.sendOnly) {
        rooms.remove(c);
        release();
      }
    });
  }

  function onMessage(c: Conn, data: RawData, isBinary: boolean): void {
    const n = ++c.seq;
    if (!c.principal.isService) {
      metrics.rejected.inc({ code: String(CLOSE.notAllowed) });
      c.socket.close(CLOSE.notAllowed, 'only service tokens may send');
      return;
    }
    const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    let valid = !isBinary;
    if (valid) {
      try {
        JSON.parse(buf.toString('utf8'));
      } catch {
        valid = false;
      }
    }
    if (!valid) {
      if (c.sendOnly) c.socket.send(JSON.stringify({ error: 'message is not JSON text', seq: n }));
      else c.socket.close(CLOSE.badMessage, 'message is not JSON text');
      return;
    }
    metrics.messages.inc({ origin: 'local' });
    metrics.deliveries.inc(rooms.deliver(c.workspace, buf, c));
    fanout.publish(c.workspace, buf);
    if (c.sendOnly) c.socket.send(`{"ack":${n}}`);
  }

  /** Checks members whose standing changed again; those who lost access are closed. */
  async function recheck(changed: Changed): Promise<void> {
    for (const c of conns) {
      if (c.principal.isService || c.socket.readyState !== WebSocket.OPEN) continue;
      if (changed !== 'all' && (c.principal.uid === undefined || !changed.has(c.principal.uid))) continue;
      let p: Principal;
      try {
        p = await o.auth.verify(c.token);
      } catch (e) {
        if (isAppError(e) && e.kind === 'unauthenticated') {
          metrics.dropped.inc({ reason: 'revoked' });
          c.socket.close(CLOSE.unauthenticated, 'token revoked');
        }
        continue; // inventory unreachable: checked again at the next change
      }
      const access = p.workspaces[c.workspace];
      const kept =
        c.workspace === HOST_TASKS ? p.isAdmin : access !== undefined && access.id === c.workspaceId;
      if (!kept) {
        metrics.dropped.inc({ reason: 'access' });
        log.info({ workspace: c.workspace, username: c.username }, 'member lost access; closed');
        c.socket.close(CLOSE.notAllowed, `no longer a member of workspace ${c.workspace}`);
      }
    }
  }
  const unwatch = o.auth.watch((changed) => {
    recheck(changed).catch((e: unknown) => log.warn({ err: e }, 'room re-check failed'));
  });

  app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    onUpgrade(req, socket, head).catch((e: Error) => {
      log.error({ err: e.message }, 'notification upgrade failed');
      socket.destroy();
    });
  });

  // One timer for every connection: a member that has not answered the last ping is gone.
  const pinger = setInterval(() => {
    for (const c of conns) {
      if (c.socket.readyState !== WebSocket.OPEN) continue;
      if (!c.alive) {
        drop(c, 'no_pong');
        continue;
      }
      c.alive = false;
      c.socket.ping();
    }
  }, pingIntervalMs);
  pinger.unref();

  const port = await listen(app, o.host ?? '0.0.0.0', o.port);
  log.info({ port, instanceId, redis: Boolean(o.redisUrl) }, 'notification service listening');

  return {
    port,
    instanceId,
    async close() {
      if (closing) return;
      closing = true;
      unwatch();
      clearInterval(pinger);
      for (const s of handshaking) s.destroy();
      await Promise.all(
        [...conns].map(
          (c) =>
            new Promise<void>((resolve) => {
              if (c.socket.readyState === WebSocket.CLOSED) return resolve();
              const t = setTimeout(() => {
                c.socket.terminate();
                resolve();
              }, 1000);
              c.socket.once('close', () => {
                clearTimeout(t);
                resolve();
              });
              c.socket.close(CLOSE.goingAway, 'notification service shutting down');
            }),
        ),
      );
      wss.close();
      await app.close();
      await fanout.close();
    },
  };
}
