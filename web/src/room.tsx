// The workspace room (book chapter 8): one websocket per open workspace, through inventory's forwarder. It
// reconnects by itself with a growing, jittered delay; a 4401 close means "renew the token", a 4403/4404
// means "stop". Every reconnection is followed by a `resync` so pages refetch what they may have missed.
import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
  type ReactNode,
} from 'react';
import type { RoomMessage } from './api.ts';
import { useAuth } from './auth.tsx';

export type RoomStatus = 'connecting' | 'live' | 'offline' | 'refused';
export interface FeedEntry {
  at: number;
  message: RoomMessage;
}
type Listener = (m: RoomMessage | { kind: 'resync' }) => void;

interface Room {
  workspace?: string;
  status: RoomStatus;
  /** Why the room is offline or refused (a close reason), if known. */
  detail?: string;
  feed: FeedEntry[];
  subscribe: (fn: Listener) => () => void;
}

const RoomContext = createContext<Room>({ status: 'offline', feed: [], subscribe: () => () => undefined });
export const useRoom = () => useContext(RoomContext);

/** Calls fn for every room message (and { kind: 'resync' } after a reconnection) while mounted. */
export function useRoomEvents(fn: Listener): void {
  const { subscribe } = useRoom();
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => subscribe((m) => ref.current(m)), [subscribe]);
}

const FEED_MAX = 300;

export function roomUrl(workspace: string, token: string): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/api/notification/${encodeURIComponent(workspace)}/${encodeURIComponent(token)}`;
}

export function RoomProvider({ workspace, children }: { workspace: string; children: ReactNode }) {
  const { token, refresh } = useAuth();
  const [status, setStatus] = useState<RoomStatus>('connecting');
  const [detail, setDetail] = useState<string | undefined>();
  const [feed, setFeed] = useState<FeedEntry[]>([]);
  const listeners = useRef(new Set<Listener>());
  const tokenRef = useRef(token);
  tokenRef.current = token;
  const member = Boolean(token);

  useEffect(() => {
    setFeed([]);
    if (!member) return;
    let ws: WebSocket | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let failures = 0;
    let stopped = false;
    let everOpen = false;
    const emit = (m: RoomMessage | { kind: 'resync' }) => {
      for (const l of listeners.current) l(m);
    };
    const retry = (why?: string) => {
      if (stopped) return;
      setStatus('offline');
      setDetail(why);
      const delay = Math.min(500 * 2 ** failures, 15_000) * (0.75 + Math.random() / 2);
      failures++;
      timer = setTimeout(connect, delay);
    };
    const connect = () => {
      if (stopped || !tokenRef.current) return;
      setStatus('connecting');
      const sock = new WebSocket(roomUrl(workspace, tokenRef.current));
      ws = sock;
      let opened = false;
      sock.onopen = () => {
        opened = true;
        failures = 0;
        setStatus('live');
        setDetail(undefined);
        if (everOpen) emit({ kind: 'resync' });
        everOpen = true;
      };
      sock.onmessage = (ev) => {
        let m: RoomMessage;
        try {
          m = JSON.parse(String(ev.data)) as RoomMessage;
        } catch {
          return;
        }
        setFeed((f) => [{ at: Date.now(), message: m }, ...f].slice(0, FEED_MAX));
        emit(m);
      };
      sock.onclose = (ev) => {
        if (stopped || ws !== sock) return;
        if (ev.code === 4401) {
          // Expired or invalid token: renew it, then come back at once.
          setStatus('connecting');
          refresh()
            .then((t) => (t ? connect() : retry('signed out')))
            .catch(() => retry('token renewal failed'));
          return;
        }
        if (ev.code === 4403 || ev.code === 4404) {
          setStatus('refused');
          setDetail(ev.reason || 'not a member of this workspace');
          return;
        }
        retry(opened ? 'connection lost' : 'cannot reach the notification service');
      };
    };
    connect();
    const online = () => {
      if (ws?.readyState === WebSocket.CLOSED && timer) {
        clearTimeout(timer);
        failures = 0;
        connect();
      }
    };
    window.addEventListener('online', online);
    return () => {
      stopped = true;
      window.removeEventListener('online', online);
      if (timer) clearTimeout(timer);
      ws?.close(1000, 'leaving the workspace');
    };
    // The room is reopened per workspace and per sign-in, not per token renewal (the open one stays valid).
  }, [workspace, member, refresh]);

  const subscribe = useCallback((fn: Listener) => {
    listeners.current.add(fn);
    return () => void listeners.current.delete(fn);
  }, []);
  const value = useMemo<Room>(
    () => ({ workspace, status, detail, feed, subscribe }),
    [workspace, status, detail, feed, subscribe],
  );
  return <RoomContext.Provider value={value}>{children}</RoomContext.Provider>;
}
