// The test guest as a template in the lab's shared pool, and the choice of domain type (kvm or qemu/TCG).
import { copyFile, mkdir, stat, readFile, rm, rename } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { run } from './exec.ts';
import { HOST_POOL_PATH, TEMPLATE_SUBDIR, type DomainType, type LabPaths } from './state.ts';

const BUILD_SCRIPT = fileURLToPath(new URL('../../scripts/guest/build.sh', import.meta.url));
const FILES = ['vmlinuz', 'initrd.img', 'disk.qcow2'] as const;

export function templatePaths(paths: LabPaths) {
  const local = join(paths.pool, TEMPLATE_SUBDIR);
  const host = `${HOST_POOL_PATH}/${TEMPLATE_SUBDIR}`;
  return {
    name: 'kloudak-test',
    /** Paths as the hosts see them (for domain XML and qcow2 backing files). */
    kernel: `${host}/vmlinuz`,
    initrd: `${host}/initrd.img`,
    disk: `${host}/disk.qcow2`,
    /** The same files as this (root) namespace sees them. */
    localDir: local,
    localKernel: join(local, 'vmlinuz'),
    localDisk: join(local, 'disk.qcow2'),
  };
}

/** Builds the guest (idempotent) and copies it into the pool when the pool's copy is missing or older. */
export async function ensureGuestTemplate(paths: LabPaths): Promise<void> {
  await run('bash', [BUILD_SCRIPT, paths.guest], { timeoutMs: 600_000 });
  const t = templatePaths(paths);
  await mkdir(t.localDir, { recursive: true });
  for (const f of FILES) {
    const src = join(paths.guest, f);
    const dst = join(t.localDir, f);
    if (existsSync(dst) && (await stat(dst)).mtimeMs >= (await stat(src)).mtimeMs) continue;
    // Copy then rename: a guest booting from the template never sees a half-written file.
    await copyFile(src, `${dst}.tmp`);
    await rename(`${dst}.tmp`, dst);
  }
}

/**
 * kvm when /dev/kvm exists and a probe boot of the guest kernel under KVM prints on the serial console
 * within a few seconds; qemu (TCG) otherwise. Nested KVM on some machines opens fine but never runs a guest,
 * so the device alone proves nothing.
 */
export async function detectDomainType(kernel: string, log: (l: string) => void): Promise<DomainType> {
  if (!existsSync('/dev/kvm')) return 'qemu';
  if (!existsSync(kernel)) {
    log('no kernel to probe KVM with: using qemu (TCG)');
    return 'qemu';
  }
  const serial = join(tmpdir(), `kloudak-kvm-probe-${process.pid}.log`);
  try {
    await run(
      'timeout',
      [
        '6',
        'qemu-system-x86_64',
        '-accel',
        'kvm',
        '-machine',
        'pc',
        '-nodefaults',
        '-display',
        'none',
        '-m',
        '64',
        '-kernel',
        kernel,
        '-append',
        'console=ttyS0 panic=-1',
        '-serial',
        `file:${serial}`,
        '-no-reboot',
      ],
      { timeoutMs: 15_000 },
    ).catch(() => undefined);
    const out = existsSync(serial) ? await readFile(serial, 'utf8') : '';
    const ok = out.includes('Linux version');
    log(
      ok
        ? 'KVM works: domain type kvm'
        : 'KVM present but a probe guest printed nothing: domain type qemu (TCG)',
    );
    return ok ? 'kvm' : 'qemu';
  } finally {
    await rm(serial, { force: true });
  }
}
