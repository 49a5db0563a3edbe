// Following the tasks a page started (or found running): their status and stage as the room tells them, and
// from GET /task/<id>/ while the room is down (or now and then, should a message have been missed).
import { useCallback, useRef, useState } from 'react';
import { ctl, type RoomMessage, type Task } from './api.ts';
import { useInterval } from './hooks.ts';
import { useRoom, useRoomEvents } from './room.tsx';

export interface Watched {
  task_id: string;
  status: string;
  stage?: string;
  error?: string | null;
}

const ENDED = ['successful', 'rolled_back', 'failed'];
export const hasEnded = (w: Watched | undefined) => Boolean(w && ENDED.includes(w.status));

/**
 * Tasks by a key of the page's choosing (a group's name, a host, a VM). `onEnd` runs once per task when it
 * ends (to reload what it changed).
 */
export function useTaskWatch(onEnd?: (key: string, t: Watched) => void) {
  const [tasks, setTasks] = useState<Record<string, Watched>>({});
  const room = useRoom();
  const endRef = useRef(onEnd);
  endRef.current = onEnd;
  const ended = useRef(new Set<string>());
  // What the room told of tasks not followed (yet): a task may end before its 202 is back.
  const early = useRef(new Map<string, Partial<Watched>>());

  const update = useCallback((task_id: string, change: Partial<Watched>) => {
    setTasks((all) => {
      const key = Object.keys(all).find((k) => all[k].task_id === task_id);
      if (key === undefined) {
        early.current.set(task_id, { ...early.current.get(task_id), ...change });
        if (early.current.size > 200) early.current.delete(early.current.keys().next().value!);
        return all;
      }
      const next = { ...all[key], ...change };
      if (hasEnded(next) && !ended.current.has(task_id)) {
        ended.current.add(task_id);
        // After this render: the callback reloads other state.
        queueMicrotask(() => endRef.current?.(key, next));
      }
      return { ...all, [key]: next };
    });
  }, []);

  /** Follows `task_id` under `key` (replacing what was followed there). The room may have told of the task
   * before its 202 came back: what it told stays. */
  const track = useCallback((key: string, t: Pick<Task, 'task_id'> & Partial<Watched>) => {
    setTasks((all) =>
      all[key]?.task_id === t.task_id
        ? all
        : { ...all, [key]: { status: 'pending', ...t, ...early.current.get(t.task_id) } },
    );
  }, []);

  useRoomEvents((m) => {
    const msg = m as RoomMessage;
    if (m.kind !== 'task' || !msg.task_id) return;
    update(msg.task_id, {
      ...(msg.status ? { status: msg.status } : {}),
      ...(msg.stage ? { stage: msg.stage } : {}),
      ...(msg.error !== undefined ? { error: msg.error } : {}),
    });
  });

  const open = Object.values(tasks).filter((t) => !hasEnded(t));
  useInterval(
    () => {
      for (const t of open)
        void ctl
          .get<Task>(`/task/${t.task_id}/`)
          .then((r) => update(r.task_id, { status: r.status, stage: r.stage, error: r.error }))
          .catch(() => undefined);
    },
    open.length ? (room.status === 'live' ? 10_000 : 3000) : undefined,
  );
  return { tasks, track };
}
