// Data hooks: a fetched resource that keeps its last answer while reloading (no flicker on live updates).
import { useCallback, useEffect, useRef, useState } from 'react';
import { asApiError, type ApiError } from './api.ts';

export interface Resource<T> {
  data?: T;
  error?: ApiError;
  loading: boolean;
  reload: () => void;
  /** Changes the data in place (a live update) until the next reload answers. */
  mutate: (fn: (d: T) => T) => void;
}

export function useResource<T>(load: (() => Promise<T>) | undefined, key: string): Resource<T> {
  const [data, setData] = useState<T | undefined>();
  const [error, setError] = useState<ApiError | undefined>();
  const [loading, setLoading] = useState(Boolean(load));
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const keyRef = useRef(key);

  useEffect(() => {
    if (keyRef.current !== key) {
      keyRef.current = key;
      setData(undefined);
    }
    const fn = loadRef.current;
    if (!fn) return;
    let live = true;
    setLoading(true);
    fn()
      .then((d) => {
        if (!live) return;
        setData(d);
        setError(undefined);
      })
      .catch((e: unknown) => live && setError(asApiError(e)))
      .finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
  }, [key, tick]);

  const reload = useCallback(() => setTick((t) => t + 1), []);
  const mutate = useCallback((fn: (d: T) => T) => setData((d) => (d === undefined ? d : fn(d))), []);
  return { data, error, loading, reload, mutate };
}

/** A function that runs `fn` once after calls stop coming for `ms` (bursts of room messages -> one reload). */
export function useDebounced(fn: () => void, ms = 250): () => void {
  const ref = useRef(fn);
  ref.current = fn;
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);
  return useCallback(() => {
    clearTimeout(timer.current);
    timer.current = setTimeout(() => ref.current(), ms);
  }, [ms]);
}

export function useInterval(fn: () => void, ms: number | undefined): void {
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => {
    if (!ms) return;
    const t = setInterval(() => ref.current(), ms);
    return () => clearInterval(t);
  }, [ms]);
}
