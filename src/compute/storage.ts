// VM volumes on the shared pool, reached on the host over SSH: the qcow2 overlay of the template disk, the
// seed ISO, and removal. Every path is built from a validated pool path and a task id, and removal refuses
// anything outside the pool's vms/ directory.
import { posix } from 'node:path';
import { CommandError } from '../lib/exec.ts';
import type { HostShell } from '../lib/ssh.ts';

export interface Storage {
  makeDir(address: string, dir: string): Promise<void>;
  exists(address: string, path: string): Promise<boolean>;
  /** A qcow2 overlay of `base` (done when the disk exists already). */
  overlay(address: string, base: string, disk: string, sizeGib: number): Promise<void>;
  write(address: string, path: string, bytes: Buffer): Promise<void>;
  removeVmDir(address: string, poolPath: string, dir: string): Promise<void>;
  listVmDirs(address: string, poolPath: string): Promise<string[]>;
}

export const vmsDir = (poolPath: string) => posix.join(poolPath, 'vms');

/** A template file: absolute, or relative to the pool. */
export function poolFile(poolPath: string, file: string): string {
  return file.startsWith('/') ? file : posix.join(poolPath, file);
}

export function createHostStorage(shell: HostShell): Storage {
  const exists = async (address: string, path: string) => {
    try {
      await shell.run(address, ['test', '-e', path]);
      return true;
    } catch (e) {
      if (e instanceof CommandError && e.code === 1) return false;
      throw e;
    }
  };
  return {
    makeDir: async (address, dir) => void (await shell.run(address, ['mkdir', '-p', dir])),
    exists,
    async overlay(address, base, disk, sizeGib) {
      if (await exists(address, disk)) return;
      if (!(await exists(address, base))) throw new Error(`template disk ${base} is missing on the pool`);
      const format = base.endsWith('.qcow2') ? 'qcow2' : 'raw';
      const tmp = `${disk}.part`;
      await shell.run(address, ['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', format, '-b', base, tmp, `${Math.ceil(sizeGib * 1024)}M`]);
      // Renamed into place so a crash never leaves a half-made disk under the final name.
      await shell.run(address, ['mv', '-f', tmp, disk]);
    },
    async write(address, path, bytes) {
      await shell.run(address, ['dd', `of=${path}.part`, 'status=none'], { input: bytes });
      await shell.run(address, ['mv', '-f', `${path}.part`, path]);
    },
    async removeVmDir(address, poolPath, dir) {
      const root = vmsDir(poolPath);
      const normal = posix.normalize(dir);
      if (posix.dirname(normal) !== root) throw new Error(`refusing to remove ${dir}: not a VM directory of ${poolPath}`);
      await shell.run(address, ['rm', '-rf', '--', normal]);
    },
    async listVmDirs(address, poolPath) {
      const out = await shell.run(address, ['sh', '-c', 'ls -1 "$1" 2>/dev/null || true', 'sh', vmsDir(poolPath)]);
      return out.split('\n').filter(Boolean).map((n) => posix.join(vmsDir(poolPath), n));
    },
  };
}
