// Runs the real `kloudak` bin against a test platform, with its own config directory.
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Bus } from '../../src/lib/bus/bus.ts';
import type { Consumer } from '../../src/lib/bus/bus.ts';

export const BIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../bin/kloudak.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The environment without KLOUDAK_* settings of the runner, and with a fresh config home. */
export function cliEnv(): { env: NodeJS.ProcessEnv; home: string } {
  const home = mkdtempSync(join(tmpdir(), 'kloudak-cli-'));
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KLOUDAK_')) env[k] = v;
  env.XDG_CONFIG_HOME = home;
  return { env, home };
}

export function kloudak(env: NodeJS.ProcessEnv, args: string[], timeoutMs = 90_000): Promise<CliResult> {
  return new Promise((done) => {
    const child = execFile(
      process.execPath,
      [BIN, ...args],
      { env, timeout: timeoutMs, maxBuffer: 10 * 2 ** 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        done({ code, stdout, stderr });
      },
    );
    child.stdin?.end();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A vm worker for `workspace` that answers like compute and network do, in two steps with pauses: first
 * `network_pending` (the VM state becomes C_N), then the network's result (U). Deletes succeed at once.
 * VMs whose name starts with `fail` fail every attempt.
 */
export async function twoStepVmWorker(
  bus: Bus,
  workspace: string,
  pauseMs: number,
): Promise<{ stop(): Promise<void> }> {
  const consumers: Consumer[] = [];
  consumers.push(
    await bus.consume('vm', async (d) => {
      const t = d.body;
      if (t.owner !== workspace) return;
      const base = { task_id: t.task_id, attempt: t.attempt, retries: t.retries };
      if (String(t.name).startsWith('fail')) {
        await bus.publish('vm_notification', {
          ...base,
          from: 'compute',
          status: 'failed',
          error: 'disk exploded',
        });
        return;
      }
      if (t.method !== 'POST') {
        await bus.publish('vm_notification', { ...base, from: 'compute', status: 'successful' });
        return;
      }
      await sleep(pauseMs);
      await bus.publish('vm_notification', {
        ...base,
        from: 'compute',
        status: 'successful',
        network_pending: true,
        host: 'h1',
        // As compute does when it cannot keep an anti-affinity group apart.
        ...(t.affinity_group
          ? { warning: `anti-affinity group ${String(t.affinity_group)} not honoured` }
          : {}),
      });
      await sleep(pauseMs);
      await bus.publish('network_notification', { ...base, from: 'network', status: 'successful' });
    }),
  );
  consumers.push(
    await bus.consume('vm_rollback', async (d) => {
      if (d.body.owner !== workspace) return;
      await bus.publish('vm_notification', {
        task_id: d.body.task_id,
        attempt: d.body.attempt,
        status: 'successful',
        rollback: true,
      });
    }),
  );
  return {
    stop: async () => {
      for (const c of consumers) await c.cancel();
    },
  };
}
