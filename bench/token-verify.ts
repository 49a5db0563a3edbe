// Authenticated requests' token check per second on one core (issue 16.4): lib/authority's check as every
// service runs it (the verified-token cache keyed by the token's SHA-256, then the user's standing from its
// cache: token version, disabled, memberships), next to a bare jose jwtVerify loop on the same token and key.
// Target: at least 50 times the bare rate. The first check of a token pays the full verification; every
// later one, until a revocation or a new key empties the cache, is a hash and two lookups.
// Run: npx tsx bench/token-verify.ts   (pins itself to CPU 0 with taskset when it can; ~15 s)
// Prints one JSON line: {figure, kloudak, baseline, ratio, unit}.
import { spawnSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { jwtVerify } from 'jose';
import {
  ALL_PERMISSIONS,
  createTokenSigner,
  createTokenVerifier,
  ISSUER,
  NO_PERMISSIONS,
  UID_CLAIM,
  VERSION_CLAIM,
} from '../src/lib/auth.ts';
import { createAuthority } from '../src/lib/authority.ts';
import type { Standing } from '../src/lib/contracts/inventory.ts';
import { createLogger } from '../src/lib/log.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);

// jose verifies through WebCrypto, which runs on libuv's pool: pin the process so "one core" holds.
if (!process.env.KLOUDAK_BENCH_PINNED && existsSync('/usr/bin/taskset')) {
  const r = spawnSync(
    '/usr/bin/taskset',
    ['-c', '0', process.execPath, '--import', 'tsx', fileURLToPath(import.meta.url)],
    {
      stdio: 'inherit',
      env: { ...process.env, KLOUDAK_BENCH_PINNED: '1', UV_THREADPOOL_SIZE: '1' },
    },
  );
  process.exit(r.status ?? 1);
}

async function rate(seconds: number, verify: () => Promise<unknown>): Promise<number> {
  let n = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 100; i++) await verify();
    n += 100;
  }
  return n / ((performance.now() - start) / 1000);
}

const { privateKey } = generateKeyPairSync('ed25519');
const publicKey = createPublicKey(privateKey);
const token = await createTokenSigner(privateKey, 'bench').sign(
  { username: 'alice', email: 'alice@example.test', [UID_CLAIM]: 7, [VERSION_CLAIM]: 3 },
  3600,
);
// Alice's standing as inventory answers it (three workspaces); read once, then from the cache.
const alice: Standing = {
  uid: 7,
  username: 'alice',
  version: 3,
  disabled: false,
  admin: false,
  workspaces: [
    { id: 1, name: 'ws-one', owner: true, ...ALL_PERMISSIONS },
    { id: 2, name: 'ws-two', owner: false, ...NO_PERMISSIONS },
    { id: 3, name: 'ws-three', owner: false, ...NO_PERMISSIONS, vm_can_add: true },
  ],
};
const authority = createAuthority({
  verifier: createTokenVerifier(publicKey),
  log: createLogger('bench', 'silent'),
  source: {
    standing: async (uid) => (uid === 7 ? alice : undefined),
    changes: async () => ({ latest: 0, oldest: 0, changes: [] }),
  },
});
const kloudak = async () => {
  const p = await authority.verify(token);
  if (p.username !== 'alice' || !p.workspaces['ws-three']?.perms.vm_can_add)
    throw new Error('wrong principal');
};
const baseline = async () => {
  const { payload } = await jwtVerify(token, publicKey, { issuer: ISSUER, algorithms: ['EdDSA'] });
  if (payload.username !== 'alice') throw new Error('wrong payload');
};

await rate(0.5, kloudak);
await rate(0.5, baseline);
// Two alternating rounds each; the better round counts (less noise from neighbours on a shared machine).
const k: number[] = [];
const b: number[] = [];
for (let round = 0; round < 2; round++) {
  b.push(await rate(SECONDS, baseline));
  k.push(await rate(SECONDS, kloudak));
}
const kb = Math.max(...k);
const bb = Math.max(...b);
authority.close();
console.log(
  JSON.stringify({
    figure: 'authenticated requests: token checks per second, one core (cached check vs bare jwtVerify)',
    kloudak: Math.round(kb),
    baseline: Math.round(bb),
    ratio: Number((kb / bb).toFixed(3)),
    unit: 'verifications/s',
    pinned: Boolean(process.env.KLOUDAK_BENCH_PINNED),
  }),
);
