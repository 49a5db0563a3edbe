// The lab of hypervisor hosts that system tests share: brought up once (idempotent), registered with a test
// platform, torn down by scripts/test.sh at the end of the run.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { labStatus, labUp, type LabStatus } from '../../src/lab/index.ts';
import { registerLab, type Registered } from '../../src/cli/lab-register.ts';
import { createVirshHypervisor } from '../../src/compute/hypervisor.ts';

// One lab per machine (fixed addresses): every system test uses the same state directory.
export const LAB_DIR = process.env.KLOUDAK_LAB_DIR ?? '/tmp/kloudak-lab-test';

let lab: Promise<LabStatus> | undefined;

export function ensureLab(hosts = 2): Promise<LabStatus> {
  lab ??= (async () => {
    const s = await labStatus(LAB_DIR).catch(() => undefined);
    if (s?.up && s.hosts.length >= hosts && s.hosts.every((h) => h.healthy && !h.cut) && s.template) return s;
    return labUp({ hosts, stateDir: LAB_DIR, log: (l) => process.env.KLOUDAK_TEST_LOG && process.stderr.write(`lab: ${l}\n`) });
  })();
  return lab;
}

export async function registerTestLab(s: LabStatus, inventoryUrl: string, adminToken: string): Promise<Registered> {
  return registerLab(s, inventoryUrl, adminToken);
}

/** Settings compute and network need to reach the lab hosts. */
export function labConfig(s: LabStatus): Record<string, string> {
  return { SSH_KEY: s.ssh.key, SSH_KNOWN_HOSTS: s.ssh.knownHosts, SSH_USER: s.ssh.user };
}

const hv = createVirshHypervisor(30_000);

/** Every `kloudak-*` domain on every lab host, as host -> names. */
export async function labDomains(s: LabStatus): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const h of s.hosts) out.set(h.name, (await hv.list(h.uri)).filter((d) => d.startsWith('kloudak-')));
  return out;
}

/** The serial console of a VM created by task `taskId`, as this namespace sees the shared pool. */
export function consolePath(s: LabStatus, taskId: string): string {
  return join(s.pool.localPath, 'vms', `kloudak-${taskId}`, 'console.log');
}

export function vmDirExists(s: LabStatus, taskId: string): boolean {
  return existsSync(join(s.pool.localPath, 'vms', `kloudak-${taskId}`));
}

export function readConsole(s: LabStatus, taskId: string): string {
  try {
    return readFileSync(consolePath(s, taskId), 'utf8');
  } catch {
    return '';
  }
}
