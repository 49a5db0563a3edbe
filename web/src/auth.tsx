// Who is signed in. Login answers a token and sets the session cookie; after a reload the cookie gets a fresh
// token from /get_token/. A token says who you are; your workspaces and flags come from /account/, read again
// with every token (renewed whenever memberships change, and before the token expires).
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
import {
  call,
  decodeClaims,
  NO_PERMS,
  onAuthTrouble,
  setToken,
  workspacesOf,
  type Claims,
  type Perms,
} from './api.ts';

export interface Auth {
  status: 'loading' | 'out' | 'in';
  token?: string;
  claims?: Claims;
  login: (username: string, password: string) => Promise<void>;
  signup: (username: string, email: string, password: string) => Promise<void>;
  logout: () => Promise<void>;
  /** A fresh token from the session (new memberships and flags); undefined when the session is gone. */
  refresh: () => Promise<string | undefined>;
}

const AuthContext = createContext<Auth | undefined>(undefined);

export function useAuth(): Auth {
  const a = useContext(AuthContext);
  if (!a) throw new Error('useAuth outside AuthProvider');
  return a;
}

/** The caller's permissions in a workspace, as inventory says (every service checks the same). */
export function usePerms(ws: string | undefined): Perms {
  const { claims } = useAuth();
  return (ws && claims?.workspaces[ws]) || NO_PERMS;
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<{ status: Auth['status']; token?: string; claims?: Claims }>({
    status: 'loading',
  });
  const inflight = useRef<Promise<string | undefined> | undefined>(undefined);

  const accept = useCallback(async (token: string | undefined) => {
    setToken(token);
    if (!token) {
      setState({ status: 'out' });
      return token;
    }
    const claims = { ...decodeClaims(token), ...(await workspacesOf(token)) };
    setState({ status: 'in', token, claims });
    return token;
  }, []);

  const refresh = useCallback(() => {
    // One renewal at a time: every 401 of a burst waits for the same one.
    inflight.current ??= call<{ token: string }>('GET', '/get_token/', undefined, 'inventory', false)
      .then((r) => accept(r.token))
      .catch((e: { status?: number }) => {
        if (e.status === 401) return accept(undefined);
        throw e;
      })
      .finally(() => {
        inflight.current = undefined;
      });
    return inflight.current;
  }, [accept]);

  useEffect(() => {
    onAuthTrouble(refresh, () => void accept(undefined));
    refresh().catch(() => accept(undefined));
  }, [refresh, accept]);

  // Renew two minutes before expiry (tokens last an hour by default).
  useEffect(() => {
    if (!state.claims?.exp) return;
    const ms = Math.max(state.claims.exp * 1000 - Date.now() - 120_000, 15_000);
    const t = setTimeout(() => void refresh().catch(() => undefined), ms);
    return () => clearTimeout(t);
  }, [state.claims?.exp, refresh]);

  const value = useMemo<Auth>(
    () => ({
      ...state,
      refresh,
      login: async (username, password) => {
        const r = await call<{ token: string }>(
          'POST',
          '/login/',
          { username, password },
          'inventory',
          false,
        );
        await accept(r.token);
      },
      signup: async (username, email, password) => {
        await call('POST', '/signup/', { username, email, password }, 'inventory', false);
        const r = await call<{ token: string }>(
          'POST',
          '/login/',
          { username, password },
          'inventory',
          false,
        );
        await accept(r.token);
      },
      logout: async () => {
        await call('GET', '/logout/', undefined, 'inventory', false).catch(() => undefined);
        await accept(undefined);
      },
    }),
    [state, refresh, accept],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}
