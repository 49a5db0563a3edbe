// Users' standings for tests that run a service without inventory (notification, monitoring): a test double
// of inventory's standing source and change feed (src/lib/authority.ts), and user tokens signed to match.
import { createAuthority, type Authority } from '../../src/lib/authority.ts';
import {
  NO_PERMISSIONS,
  UID_CLAIM,
  VERSION_CLAIM,
  ADMIN_CLAIM,
  type Permissions,
  type TokenSigner,
  type TokenVerifier,
} from '../../src/lib/auth.ts';
import type { AuthChange, Standing } from '../../src/lib/contracts/inventory.ts';
import type { Logger } from '../../src/lib/log.ts';
import { uniqueName } from './env.ts';

export interface TestStandings {
  authority: Authority;
  /**
   * Signs a token of a new user: a member of each named workspace (vm_can_add and network_can_add, or the
   * flags given), admin when asked.
   */
  user(
    workspaces: string[] | Record<string, Partial<Permissions>>,
    o?: { admin?: boolean; ttl?: number; username?: string },
  ): Promise<{ token: string; uid: number }>;
  /** Changes a user's standing (as inventory would) and records it in the feed. */
  change(uid: number, fn: (s: Standing) => void): void;
  /** Revokes every token of the user. */
  revoke(uid: number): void;
  close(): void;
}

export function createTestStandings(
  signer: TokenSigner,
  verifier: TokenVerifier,
  log: Logger,
): TestStandings {
  const users = new Map<number, Standing>();
  const workspaceIds = new Map<string, number>();
  const feed: AuthChange[] = [];
  let seq = 0;
  let nextUid = 1;
  const idOf = (ws: string) => {
    if (!workspaceIds.has(ws)) workspaceIds.set(ws, workspaceIds.size + 1);
    return workspaceIds.get(ws)!;
  };
  const record = (kind: AuthChange['kind'], uid: number) => feed.push({ seq: ++seq, kind, uid });
  const authority = createAuthority({
    verifier,
    log,
    pollMs: 100,
    source: {
      standing: async (uid) => {
        const s = users.get(uid);
        return s && structuredClone(s);
      },
      changes: async (after) => ({
        latest: seq,
        oldest: feed[0]?.seq ?? 0,
        changes: after === undefined ? [] : feed.filter((c) => c.seq > after),
      }),
    },
  });
  return {
    authority,
    async user(workspaces, o = {}) {
      const uid = nextUid++;
      const username = o.username ?? uniqueName('user');
      const flags: Record<string, Partial<Permissions>> = Array.isArray(workspaces)
        ? Object.fromEntries(workspaces.map((w) => [w, { vm_can_add: true, network_can_add: true }]))
        : workspaces;
      users.set(uid, {
        uid,
        username,
        version: 1,
        disabled: false,
        admin: o.admin ?? false,
        workspaces: Object.entries(flags).map(([name, f]) => ({
          id: idOf(name),
          name,
          owner: false,
          ...NO_PERMISSIONS,
          ...f,
        })),
      });
      const token = await signer.sign(
        {
          username,
          email: `${username}@example.test`,
          [UID_CLAIM]: uid,
          [VERSION_CLAIM]: 1,
          ...(o.admin ? { [ADMIN_CLAIM]: true } : {}),
        },
        o.ttl ?? 600,
      );
      return { token, uid };
    },
    change(uid, fn) {
      fn(users.get(uid)!);
      record('user', uid);
    },
    revoke(uid) {
      users.get(uid)!.version++;
      record('revoke', uid);
    },
    close: () => authority.close(),
  };
}
