// Authenticated requests' token check per second on one core (issue 16.4). First figure: lib/authority's check
// as every service runs it (the verified-token cache of lib/auth createCachedVerifier, keyed by the token's
// SHA-256, then the user's standing from its cache: token version, disabled, memberships) over 1,000 users'
// tokens arriving in turn (each seen before), next to a bare jose jwtVerify of the same tokens. Target: at
// least 50 times the bare rate. Second figure: the signature check alone (createTokenVerifier, no cache) vs
// bare jwtVerify on one token: what the first request of a token costs.
// Run: npx tsx bench/token-verify.ts   (pins itself to CPU 0 with taskset when it can; ~45 s)
// Prints its figures (bench/support.ts emit): medians of 5 alternating rounds of 2 s, with min and max.
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
import { emit } from './support.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

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
const verifier = createTokenVerifier(publicKey);
// 1,000 users, each with a token and a standing as inventory answers it (three workspaces); each standing is
// read once, then from the authority's cache.
const TOKENS = 1000;
const standingOf = (uid: number): Standing => ({
  uid,
  username: `user${uid}`,
  version: 3,
  disabled: false,
  admin: false,
  workspaces: [
    { id: 1, name: 'ws-one', owner: true, ...ALL_PERMISSIONS },
    { id: 2, name: 'ws-two', owner: false, ...NO_PERMISSIONS },
    { id: 3, name: 'ws-three', owner: false, ...NO_PERMISSIONS, vm_can_add: true },
  ],
});
const tokens = await Promise.all(
  Array.from({ length: TOKENS }, (_, i) =>
    createTokenSigner(privateKey, 'bench').sign(
      { username: `user${i}`, [UID_CLAIM]: i, [VERSION_CLAIM]: 3 },
      3600,
    ),
  ),
);
const authority = createAuthority({
  verifier: createTokenVerifier(publicKey),
  log: createLogger('bench', 'silent'),
  source: {
    standing: async (uid) => (uid >= 0 && uid < TOKENS ? standingOf(uid) : undefined),
    changes: async () => ({ latest: 0, oldest: 0, changes: [] }),
  },
});
let next = 0;
const withCache = async () => {
  const i = next++ % TOKENS;
  const p = await authority.verify(tokens[i]);
  if (p.username !== `user${i}` || !p.workspaces['ws-three']?.perms.vm_can_add)
    throw new Error('wrong principal');
};
let nextBare = 0;
const bareEach = async () => {
  const i = nextBare++ % TOKENS;
  const { payload } = await jwtVerify(tokens[i], publicKey, { issuer: ISSUER, algorithms: ['EdDSA'] });
  if (payload.username !== `user${i}`) throw new Error('wrong payload');
};
const kloudak = async () => {
  const p = await verifier.verify(token);
  if (p.username !== 'alice') throw new Error('wrong identity');
};
const baseline = async () => {
  const { payload } = await jwtVerify(token, publicKey, { issuer: ISSUER, algorithms: ['EdDSA'] });
  if (payload.username !== 'alice') throw new Error('wrong payload');
};

await rate(0.5, kloudak);
await rate(0.5, baseline);
await rate(0.5, withCache);
await rate(0.5, bareEach);
// Alternating rounds, so whatever else runs on the machine weighs on both alike; each round is a sample.
const k: number[] = [];
const b: number[] = [];
const c: number[] = [];
const cb: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  b.push(await rate(SECONDS, baseline));
  k.push(await rate(SECONDS, kloudak));
  cb.push(await rate(SECONDS, bareEach));
  c.push(await rate(SECONDS, withCache));
}
authority.close();
emit({
  figure: `authenticated requests: token checks per second, one core, lib/authority (verified-token cache + cached standing, ${TOKENS.toLocaleString('en-US')} users' tokens in turn) vs bare jwtVerify`,
  samples: c,
  baselineSamples: cb,
  digits: 0,
  unit: 'verifications/s',
  target: '>= 50',
  pinned: Boolean(process.env.KLOUDAK_BENCH_PINNED),
});
emit({
  figure:
    'token verifications per second, one core, without the cache (every signature checked) vs bare jwtVerify',
  samples: k,
  baselineSamples: b,
  digits: 0,
  unit: 'verifications/s',
  pinned: Boolean(process.env.KLOUDAK_BENCH_PINNED),
});
