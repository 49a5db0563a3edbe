// Token verifications per second on one core: lib/auth's createTokenVerifier (a public key, a real user
// token with three workspaces) next to a bare jose jwtVerify loop on the same token and key.
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
} from '../src/lib/auth.ts';

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
  {
    username: 'alice',
    email: 'alice@example.test',
    'ws-one': ALL_PERMISSIONS,
    'ws-two': NO_PERMISSIONS,
    'ws-three': { ...NO_PERMISSIONS, vm_can_add: true },
  },
  3600,
);
const verifier = createTokenVerifier(publicKey);
const kloudak = async () => {
  const p = await verifier.verify(token);
  if (p.username !== 'alice') throw new Error('wrong principal');
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
console.log(
  JSON.stringify({
    figure: 'token verifications per second, one core',
    kloudak: Math.round(kb),
    baseline: Math.round(bb),
    ratio: Number((kb / bb).toFixed(3)),
    unit: 'verifications/s',
    pinned: Boolean(process.env.KLOUDAK_BENCH_PINNED),
  }),
);
