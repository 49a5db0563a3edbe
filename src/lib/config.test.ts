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
