// Login and signup throttling (issue 14.7): every attempt is counted before the password is checked, so a
// concurrent burst of wrong passwords gets no more guesses than the limit; the count is per (user, client
// address) with growing delays, so the real user from elsewhere is never locked out; signups are throttled
// per client address (each one hashes a password). Client addresses are real: requests leave from 127.0.0.1
// and 127.0.0.2 (both loopback).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { uniqueName } from '../support/env.ts';
import { BACKENDS, startInventory, type TestInventory } from '../support/inventory.ts';

/** A JSON POST to `url` from the local address `from`. */
function postFrom(from: string, url: string, body: unknown): Promise<{ status: number; retryAfter: number }> {
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        localAddress: from,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, retryAfter: Number(res.headers['retry-after'] ?? 0) }),
        );
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}
const sleep = (s: number) => new Promise((r) => setTimeout(r, s * 1000));

for (const backend of BACKENDS) {
  void describe(`throttling (${backend})`, () => {
    let inv: TestInventory;
    /** Its first wait is 3 s (LOGIN_DELAY), so the test sees waits grow without waiting long. */
    let quick: TestInventory;
    before(async () => {
      inv = await startInventory(backend, { SIGNUP_MAX_PER_ADDRESS: '3' });
      quick = await startInventory(backend, { SIGNUP_MAX_PER_ADDRESS: '3', LOGIN_DELAY: '3' });
    });
    after(async () => {
      await inv?.close();
      await quick?.close();
    });
    const login = (from: string, username: string, password: string, at = inv) =>
      postFrom(from, `${at.url}/login/`, { username, password });
    const signup = (from: string, username: string, at = inv) =>
      postFrom(from, `${at.url}/signup/`, {
        username,
        password: `${username}-password`,
        email: `${username}@x.test`,
      });

    void test('a burst of 40 concurrent wrong passwords gets 5 checked; the user logs in from elsewhere', async () => {
      const name = uniqueName('victim');
      assert.equal((await signup('127.0.0.3', name)).status, 201);
      const burst = await Promise.all(
        Array.from({ length: 40 }, (_, i) => login('127.0.0.1', name, `wrong-${i}-password`)),
      );
      const checked = burst.filter((r) => r.status === 401).length;
      assert.equal(checked, 5, `checked ${checked}: ${burst.map((r) => r.status).join(' ')}`);
      assert.ok(burst.every((r) => r.status === 401 || (r.status === 429 && r.retryAfter >= 1)));
      const here = await login('127.0.0.1', name, `${name}-password`);
      assert.equal(here.status, 429, 'the guessing address waits, even with the right password');
      assert.equal(
        (await login('127.0.0.2', name, `${name}-password`)).status,
        200,
        'not a lock of the account',
      );
    });

    void test('after the free attempts each wait is longer than the one before', async () => {
      const name = uniqueName('slow');
      assert.equal((await signup('127.0.0.3', name, quick)).status, 201);
      for (let i = 0; i < 5; i++)
        assert.equal((await login('127.0.0.4', name, 'wrong-password', quick)).status, 401);
      const waits: number[] = [];
      for (let i = 0; i < 2; i++) {
        const r = await login('127.0.0.4', name, 'wrong-password', quick);
        assert.equal(r.status, 429);
        waits.push(r.retryAfter);
        await sleep(r.retryAfter);
        // The wait over, one more attempt is checked (and counted).
        assert.equal((await login('127.0.0.4', name, 'wrong-password', quick)).status, 401);
      }
      const last = await login('127.0.0.4', name, `${name}-password`, quick);
      assert.equal(last.status, 429);
      waits.push(last.retryAfter);
      assert.ok(waits[1] > waits[0] && waits[2] > waits[1], `waits ${waits.join(', ')}`);
      assert.ok(waits[2] <= quick.config.LOGIN_WINDOW);
    });

    void test('signups are throttled per client address', async () => {
      for (let i = 0; i < 3; i++) assert.equal((await signup('127.0.0.1', uniqueName('s'))).status, 201);
      const refused = await signup('127.0.0.1', uniqueName('s'));
      assert.equal(refused.status, 429);
      assert.ok(refused.retryAfter >= 1);
      assert.equal((await signup('127.0.0.2', uniqueName('s'))).status, 201, 'another address signs up');
    });
  });
}
