#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx: no build step between a clone and `kloudak up`.
import { register } from 'tsx/esm/api';

register();
const [command, sub, host, address, ...domains] = process.argv.slice(2);
if (
  command === 'lab' &&
  sub === 'fence' &&
  host &&
  address &&
  ![host, address, ...domains].some((a) => a.startsWith('-'))
) {
  // The lab's fence agent runs in failover's critical path: it skips loading the whole CLI.
  const { fenceCommand } = await import('../src/lab/fence.ts');
  process.exit(await fenceCommand(host, domains));
}
await import('../src/cli/main.ts');
