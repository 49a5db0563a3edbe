import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from './config.ts';

test('an unset service URL follows its port; a set one wins; port 0 and bad ports leave the default', () => {
  const c = loadConfig(
    {
      KLOUDAK_INVENTORY_PORT: '5050',
      KLOUDAK_NOTIFICATION_PORT: '3030',
      KLOUDAK_STATS_PORT: '8181',
      KLOUDAK_CONTROLLER_URL: 'http://ctl.example:8000',
    },
    { CONTROLLER_PORT: '8080' },
  );
  assert.equal(c.INVENTORY_URL, 'http://127.0.0.1:5050');
  assert.equal(c.NOTIFICATION_URL, 'ws://127.0.0.1:3030');
  assert.equal(c.CONTROLLER_URL, 'http://ctl.example:8000');
  assert.equal(c.STATS_URL, 'http://127.0.0.1:8181');
  assert.equal(loadConfig({}).STATS_URL, 'http://127.0.0.1:8100');
  assert.equal(loadConfig({}, { INVENTORY_PORT: '0' }).INVENTORY_URL, 'http://127.0.0.1:5000');
  assert.throws(
    () => loadConfig({ KLOUDAK_INVENTORY_PORT: 'fifty' }),
    (e: unknown) =>
      e instanceof ConfigError &&
      /KLOUDAK_INVENTORY_PORT/.test(e.message) &&
      !/INVENTORY_URL/.test(e.message),
  );
});

test('a placeholder or short secret stops the start, naming every offender and never echoing a value', () => {
  const env = {
    KLOUDAK_SERVICE_SECRET: 'CHANGE-ME',
    KLOUDAK_TASK_KEY: 'short-key',
    KLOUDAK_ADMIN_PASSWORD: 'changeme',
    KLOUDAK_INVENTORY_DB: 'postgres://kloudak:pw@db/x',
  };
  assert.throws(
    () => loadConfig(env),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      const names = e.problems.map((p) => p.split(':')[0]).sort();
      assert.deepEqual(names, ['KLOUDAK_ADMIN_PASSWORD', 'KLOUDAK_SERVICE_SECRET', 'KLOUDAK_TASK_KEY']);
      assert.match(e.message, /KLOUDAK_SERVICE_SECRET: a placeholder/);
      assert.match(e.message, /KLOUDAK_TASK_KEY: must be at least 16 characters/);
      for (const v of ['CHANGE-ME', 'short-key', 'changeme']) assert.ok(!e.message.includes(v), v);
      return true;
    },
  );
  for (const weak of ['change_me_please_0123', 'aaaaaaaaaaaaaaaaaaaa', 'placeholder-1234567'])
    assert.throws(() => loadConfig({ KLOUDAK_SERVICE_SECRET: weak }), ConfigError, weak);
  const ok = loadConfig({ KLOUDAK_SERVICE_SECRET: 'q8N2vX0pLr7Ts4Wm', KLOUDAK_ADMIN_PASSWORD: 'hunter-22' });
  assert.equal(ok.SERVICE_SECRET, 'q8N2vX0pLr7Ts4Wm');
  assert.equal(ok.ADMIN_PASSWORD, 'hunter-22');
});
