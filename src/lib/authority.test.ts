// The authority's caches (issue 14.5, 16.4): verified tokens kept until expiry, bounded, emptied by a
// revocation or a new key; standings dropped by the change feed; nothing trusted once the feed is silent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import {
  createCachedVerifier,
  createTokenSigner,
  createTokenVerifier,
  NO_PERMISSIONS,
  UID_CLAIM,
  VERSION_CLAIM,
  type TokenVerifier,
} from './auth.ts';
import { createAuthority, type AuthorityOptions } from './authority.ts';
import type { AuthChange, Standing } from './contracts/inventory.ts';
import { isAppError } from './errors.ts';
import { createLogger } from './log.ts';

const log = createLogger('test', 'silent');
const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const signer = createTokenSigner(privateKey, 'k');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Counts the verifications that reach the real verifier. */
function counting(inner: TokenVerifier) {
  const c = { n: 0, verify: (t: string) => (c.n++, inner.verify(t)) };
  return c;
}

function world() {
  const alice: Standing = {
    uid: 1,
    username: 'alice',
    version: 1,
    disabled: false,
    admin: false,
    workspaces: [{ id: 10, name: 'w', owner: false, ...NO_PERMISSIONS, vm_can_add: true }],
  };
  const feed: AuthChange[] = [];
  let seq = 0;
  const w = {
    alice,
    feed,
    up: true,
    reads: 0,
    push: (kind: AuthChange['kind'], uid: number | null) => feed.push({ seq: ++seq, kind, uid }),
    source: {
      standing: async (uid: number) => {
        if (!w.up) throw new Error('inventory away');
        w.reads++;
        return uid === 1 ? structuredClone(alice) : undefined;
      },
      changes: async (after?: number) => {
        if (!w.up) throw new Error('inventory away');
        return {
          latest: seq,
          oldest: feed[0]?.seq ?? 0,
          changes: after === undefined ? [] : feed.filter((c) => c.seq > after),
        };
      },
    },
  };
  return w;
}
/** The authority of world w, checking signatures with the test key unless `o` says otherwise. */
const authorityOf = (w: ReturnType<typeof world>, o: Partial<AuthorityOptions>) =>
  createAuthority({ verifier: createTokenVerifier(publicKey), source: w.source, log, ...o });
const aliceToken = (ttl = 600, version = 1) =>
  signer.sign({ username: 'alice', [UID_CLAIM]: 1, [VERSION_CLAIM]: version }, ttl);

test('a verified token is kept until it expires, by its hash, at most max of them', async () => {
  const inner = counting(createTokenVerifier(publicKey));
  const cache = createCachedVerifier(inner, 2);
  const [a, b, c] = await Promise.all([aliceToken(), aliceToken(600, 2), aliceToken(600, 3)]);
  await cache.verify(a);
  await cache.verify(a);
  assert.equal(inner.n, 1, 'the second check is a lookup');
  await cache.verify(b);
  await cache.verify(c);
  assert.equal(cache.size, 2, 'bounded');
  await cache.verify(a);
  assert.equal(inner.n, 4, 'the oldest went first');
  const brief = await aliceToken(1);
  await cache.verify(brief);
  await sleep(2100);
  await assert.rejects(cache.verify(brief), (e) => isAppError(e) && e.kind === 'unauthenticated');
  await assert.rejects(cache.verify('not.a.token'));
  assert.equal(cache.peek('not.a.token'), undefined, 'failures are never kept');
});

test('the change feed: a flag change drops the standing, a revocation empties the token cache, keys too', async () => {
  const w = world();
  const inner = counting(createTokenVerifier(publicKey));
  let keys = 0;
  const auth = authorityOf(w, { verifier: inner, pollMs: 50, onKeys: () => void keys++ });
  try {
    const t = await aliceToken();
    assert.equal((await auth.verify(t)).workspaces.w?.perms.vm_can_add, true);
    await auth.verify(t);
    assert.equal(inner.n, 1);
    assert.equal(w.reads, 1);
    w.alice.workspaces[0].vm_can_add = false;
    w.push('user', 1);
    await auth.poll();
    assert.equal((await auth.verify(t)).workspaces.w?.perms.vm_can_add, false, 'the standing was read again');
    assert.equal(inner.n, 1, 'a membership change keeps verified tokens');
    w.alice.version = 2;
    w.push('revoke', 1);
    await auth.poll();
    assert.equal(auth.tokens.size, 0, 'a revocation empties the token cache');
    await assert.rejects(auth.verify(t), /token revoked/);
    const t2 = await aliceToken(600, 2);
    await auth.verify(t2);
    w.push('keys', null);
    await auth.poll();
    assert.equal(auth.tokens.size, 0, 'a new key empties it too');
    assert.equal(keys, 1, 'and the keys are reloaded');
    w.alice.disabled = true;
    w.push('user', 1);
    await auth.poll();
    await assert.rejects(auth.verify(t2), /account disabled/);
  } finally {
    auth.close();
  }
});

test('a token newer than the standing held is checked against a fresh read, before the feed says why', async () => {
  const w = world();
  const auth = authorityOf(w, { pollMs: 10_000 });
  try {
    const t = await aliceToken();
    await auth.verify(t);
    // A password change: the version is raised and a fresh token signed; the feed is not read for 10 s.
    w.alice.version = 2;
    w.push('revoke', 1);
    const t2 = await aliceToken(600, 2);
    await auth.tokens.verify(t2); // verified before (on the fast path's cache) makes no difference
    assert.equal((await auth.verify(t2)).username, 'alice', 'the fresh token works at once');
    assert.equal(w.reads, 2, 'by reading the standing again');
    await assert.rejects(auth.verify(t), /token revoked/, 'and the old one stops with it');
    await auth.verify(t2);
    assert.equal(w.reads, 2, 'the fresh standing is kept');
  } finally {
    auth.close();
  }
});

test('a silent feed: cached standings are not trusted, and checks fail with 503 until inventory is back', async () => {
  const w = world();
  const auth = authorityOf(w, { pollMs: 50, staleMs: 300 });
  try {
    const t = await aliceToken();
    await auth.verify(t);
    w.up = false;
    await sleep(600);
    await assert.rejects(auth.verify(t), (e) => isAppError(e) && e.kind === 'unavailable');
    w.up = true;
    await sleep(200);
    assert.equal((await auth.verify(t)).username, 'alice');
  } finally {
    auth.close();
  }
});

test('changes missed (pruned before they were read) drop everything', async () => {
  const w = world();
  const auth = authorityOf(w, { pollMs: 10_000 });
  try {
    const t = await aliceToken();
    await auth.verify(t);
    assert.equal(w.reads, 1);
    for (let i = 0; i < 5; i++) w.push('user', 99);
    w.feed.splice(0, 3); // the oldest kept is now 4: seqs 1-3 were never read
    await auth.poll();
    await auth.verify(t);
    assert.equal(w.reads, 2);
  } finally {
    auth.close();
  }
});
