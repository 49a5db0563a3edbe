// The lab of hypervisor hosts that system tests share: brought up once (idempotent), registered with a test
// platform, torn down by scripts/test.sh at the end of the run.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { labRestoreHost, labStatus, labUp, type LabStatus } from '../../src/lab/index.ts';
import { registerLab, type Registered } from '../../src/cli/lab-register.ts';
import { createVirshHypervisor } from '../../src/compute/hypervisor.ts';
import { run } from '../../src/lib/exec.ts';

// One lab per machine (fixed addresses): every system test uses the same state directory.
export const LAB_DIR = process.env.KLOUDAK_LAB_DIR ?? '/tmp/kloudak-lab-test';

let lab: Promise<LabStatus> | undefined;

// The lab's code (src/lab, scripts/guest) of the checkout that last brought the lab up. Checkouts of other
// versions share the machine's one lab: a healthy lab made by other code is brought up again by this one
// (labUp is idempotent and ensures what this version's code wants).
const LAB_CODE = ['src/lab', 'scripts/guest'];
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function labCodeFingerprint(): string {
  const h = createHash('sha256');
  const walk = (dir: string): void => {
    for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const rel = join(dir, e.name);
      if (e.isDirectory()) walk(rel);
      else h.update(rel).update(readFileSync(join(ROOT, rel)));
    }
  };
  LAB_CODE.forEach(walk);
  return h.digest('hex');
}

export function ensureLab(hosts = 2): Promise<LabStatus> {
  lab ??= (async () => {
    const mark = join(LAB_DIR, 'code-fingerprint');
    const code = labCodeFingerprint();
    const s = await labStatus(LAB_DIR).catch(() => undefined);
    const sameCode = existsSync(mark) && readFileSync(mark, 'utf8') === code;
    if (
      sameCode &&
      s?.up &&
      s.hosts.length >= hosts &&
      s.hosts.every((h) => h.healthy && !h.cut) &&
      s.template
    )
      return s;
    const up = await labUp({
      hosts: Math.max(hosts, s?.hosts.length ?? 0),
      stateDir: LAB_DIR,
      log: (l) => process.env.KLOUDAK_TEST_LOG && process.stderr.write(`lab: ${l}\n`),
    });
    writeFileSync(mark, code);
    return up;
  })().then(async (got) => {
    // A file starts with every host plugged in: one that failed while a host was cut must not fail the rest.
    const cut = got.hosts.filter((x) => x.cut);
    for (const h of cut) await labRestoreHost(LAB_DIR, h.name);
    const s = cut.length ? await labStatus(LAB_DIR) : got;
    await clearPortSecurity(s);
    // Every test platform hands out guest addresses from .2 again: the gateway side's ARP entries for earlier
    // files' guests (other MACs) would cost new guests' first TCP connections seconds of probing.
    await run('ip', ['neigh', 'flush', 'dev', 'kl-pub']).catch(() => undefined);
    return s;
  });
  return lab;
}

/**
 * Removes Kloudak's OpenFlow rules (cookie 0x4b4c...) from the lab hosts' public bridges, leaving OVS's own
 * NORMAL rule: at the start of a test file (a killed run's leftovers) and at the end of files that run the
 * network service, so no default-drop outlives the service that maintains the ports' rules.
 */
export async function clearPortSecurity(s: LabStatus): Promise<void> {
  const { createSshShell } = await import('../../src/lib/ssh.ts');
  const shell = createSshShell({ user: s.ssh.user, key: s.ssh.key, knownHosts: s.ssh.knownHosts });
  // Both bridges: private NICs have security group rules too (issue 17).
  for (const h of s.hosts.filter((x) => !x.cut))
    for (const bridge of ['public-br', 'private-br'])
      await shell.run(h.ip, [
        'ovs-ofctl',
        '--timeout=10',
        'del-flows',
        bridge,
        'cookie=0x4b4c000000000000/0xffff000000000000',
      ]);
}

export async function registerTestLab(
  s: LabStatus,
  inventoryUrl: string,
  adminToken: string,
): Promise<Registered> {
  return registerLab(s, inventoryUrl, adminToken);
}

/** Settings compute and network need to reach the lab hosts. */
export function labConfig(s: LabStatus): Record<string, string> {
  return {
    SSH_KEY: s.ssh.key,
    SSH_KNOWN_HOSTS: s.ssh.knownHosts,
    SSH_USER: s.ssh.user,
    // Monitoring pings a silent host's guests from this machine (the lab's gateway): whatever their groups.
    SG_PROBE_SOURCES: s.network.publicGateway,
  };
}

const hv = createVirshHypervisor(30_000);

/** Every `kloudak-*` domain on every lab host, as host -> names. */
export async function labDomains(s: LabStatus): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const h of s.hosts)
    out.set(
      h.name,
      (await hv.list(h.uri)).filter((d) => d.startsWith('kloudak-')),
    );
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

/** Removes every VM a compute service still holds (after a failed test, so no guest outlives its test). */
export async function destroyComputeVms(compute: {
  ctx: import('../../src/compute/context.ts').ComputeContext;
}): Promise<void> {
  const { destroyVm } = await import('../../src/compute/vms.ts');
  for (const vm of await compute.ctx.db.selectFrom('vms').selectAll().execute())
    await destroyVm(compute.ctx, vm).catch(() => undefined);
}

/** Router namespaces and their OVS ports left on lab hosts by an earlier, failed run. */
export async function removeLeftoverRouters(s: LabStatus): Promise<void> {
  const { createSshShell } = await import('../../src/lib/ssh.ts');
  const shell = createSshShell({ user: s.ssh.user, key: s.ssh.key, knownHosts: s.ssh.knownHosts });
  for (const h of s.hosts) {
    const ports = (await shell.run(h.ip, ['ovs-vsctl', '--timeout=10', 'list-ports', 'private-br']))
      .split('\n')
      .filter((p) => /^kr[0-9a-f]{8}v\d+$/.test(p));
    for (const p of ports)
      await shell.run(h.ip, ['ovs-vsctl', '--timeout=10', '--if-exists', 'del-port', 'private-br', p]);
    const spaces = (await shell.run(h.ip, ['ip', 'netns', 'list']))
      .split('\n')
      .map((l) => l.split(' ')[0])
      .filter((n) => /^kr-[0-9a-f]{8}$/.test(n));
    for (const n of spaces) await shell.run(h.ip, ['ip', 'netns', 'delete', n]);
  }
}
