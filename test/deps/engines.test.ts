// Issue 12: `npm ci` must print no EBADENGINE warning. npm warns when the running Node is outside a package's
// declared engines; this checks every package of the lock file (dev ones too) against the running Node and
// against the oldest Node package.json promises, so a dependency bump that needs a newer Node fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import semver from 'semver';

interface Lock {
  packages: Record<string, { version?: string; engines?: { node?: string } | string[] }>;
}

test("every locked package's engines hold on the Node we run and on package.json's oldest", () => {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { engines: { node: string } };
  const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as Lock;
  const oldest = semver.minVersion(pkg.engines.node)?.version;
  assert.ok(oldest, `package.json engines.node ${pkg.engines.node} has a lowest version`);
  assert.ok(semver.satisfies(process.versions.node, pkg.engines.node), `Node ${process.versions.node}`);
  const offenders: string[] = [];
  let checked = 0;
  for (const [path, entry] of Object.entries(lock.packages)) {
    const range = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
    if (!path || !range) continue;
    checked++;
    for (const node of [oldest, process.versions.node]) {
      if (!semver.satisfies(node, range))
        offenders.push(`${path}@${entry.version}: node ${range} (not ${node})`);
    }
  }
  assert.ok(checked > 50, `only ${checked} packages declare engines: is this the lock file?`);
  assert.deepEqual(offenders, []);
});
