// VM volumes on the shared pool, reached on the host over SSH: the qcow2 overlay of the template disk, the
// seed ISO, and removal. Every path is built from a validated pool path and a task id, and removal refuses
// anything outside the pool's vms/ directory.
import { posix } from 'node:path';
import type { HostShell } from '../lib/ssh.ts';

export interface VolumeSpec {
  dir: string;
  /** The template disk the overlay is based on. */
  base: string;
  disk: string;
  sizeGib: number;
  seed: string;
  seedBytes: Buffer;
}

export interface Storage {
  /**
   * The VM's directory, its qcow2 overlay (kept when it exists) and its seed ISO, in one round trip to the
   * host: SSH round trips dominate a VM create's time.
   */
  prepareVolumes(address: string, v: VolumeSpec): Promise<void>;
  removeVmDir(address: string, poolPath: string, dir: string): Promise<void>;
  listVmDirs(address: string, poolPath: string): Promise<string[]>;
  /** Writes a file of a VM's directory whole (a .part file renamed), making its parent directories. */
  writeVmFile(address: string, poolPath: string, file: string, content: string): Promise<void>;
  /** The files of a directory of a VM's directory ending in `suffix`, with their contents (none: empty). */
  readVmFiles(
    address: string,
    poolPath: string,
    dir: string,
    suffix: string,
  ): Promise<{ file: string; content: string }[]>;
  /** Removes a file of a VM's directory; done when absent. */
  removeVmFile(address: string, poolPath: string, file: string): Promise<void>;
}

/** The path, when it is inside a VM directory of the pool (refused otherwise: these are rm and > targets). */
function insideVmDir(poolPath: string, path: string): string {
  const normal = posix.normalize(path);
  const root = vmsDir(poolPath);
  if (!normal.startsWith(`${root}/`) || normal.split('/').length < root.split('/').length + 2)
    throw new Error(`refusing ${path}: not inside a VM directory of ${poolPath}`);
  return normal;
}

const WRITE_SCRIPT = 'set -e; mkdir -p "$(dirname "$1")"; cat > "$1.part"; mv -f "$1.part" "$1"';
// Each file as NUL, its path, NUL, its content: neither paths nor XML hold a NUL.
const READ_SCRIPT =
  'for f in "$1"/*"$2"; do [ -f "$f" ] || continue; printf "\\000%s\\000" "$f"; cat "$f"; done';

const PREPARE_SCRIPT = [
  'set -e',
  'mkdir -p "$1"',
  'if [ ! -e "$3" ]; then',
  '  [ -e "$2" ] || { echo "template disk $2 is missing on the pool" >&2; exit 3; }',
  '  qemu-img create -q -f qcow2 -F "$5" -b "$2" "$3.part" "$4"',
  '  mv -f "$3.part" "$3"',
  'fi',
  'cat > "$6.part"',
  'mv -f "$6.part" "$6"',
].join('\n');

export const vmsDir = (poolPath: string) => posix.join(poolPath, 'vms');

/** A template file: absolute, or relative to the pool. */
export function poolFile(poolPath: string, file: string): string {
  return file.startsWith('/') ? file : posix.join(poolPath, file);
}

export function createHostStorage(shell: HostShell): Storage {
  return {
    async prepareVolumes(address, v) {
      const format = v.base.endsWith('.qcow2') ? 'qcow2' : 'raw';
      // A fixed script; every value is a positional argument, never part of the script text. Files are
      // made under a .part name and renamed, so a crash never leaves a half-made disk or seed.
      await shell.run(
        address,
        [
          'sh',
          '-c',
          PREPARE_SCRIPT,
          'kloudak-prepare',
          v.dir,
          v.base,
          v.disk,
          `${Math.ceil(v.sizeGib * 1024)}M`,
          format,
          v.seed,
        ],
        {
          input: v.seedBytes,
        },
      );
    },
    async removeVmDir(address, poolPath, dir) {
      const root = vmsDir(poolPath);
      const normal = posix.normalize(dir);
      if (posix.dirname(normal) !== root)
        throw new Error(`refusing to remove ${dir}: not a VM directory of ${poolPath}`);
      await shell.run(address, ['rm', '-rf', '--', normal]);
    },
    async writeVmFile(address, poolPath, file, content) {
      await shell.run(address, ['sh', '-c', WRITE_SCRIPT, 'kloudak-write', insideVmDir(poolPath, file)], {
        input: content,
      });
    },
    async readVmFiles(address, poolPath, dir, suffix) {
      const out = await shell.run(address, [
        'sh',
        '-c',
        READ_SCRIPT,
        'kloudak-read',
        insideVmDir(poolPath, dir),
        suffix,
      ]);
      const parts = out.split('\0');
      const files: { file: string; content: string }[] = [];
      for (let i = 1; i + 1 < parts.length; i += 2) files.push({ file: parts[i], content: parts[i + 1] });
      return files;
    },
    async removeVmFile(address, poolPath, file) {
      await shell.run(address, ['rm', '-f', '--', insideVmDir(poolPath, file)]);
    },
    async listVmDirs(address, poolPath) {
      const out = await shell.run(address, [
        'sh',
        '-c',
        'ls -1 "$1" 2>/dev/null || true',
        'sh',
        vmsDir(poolPath),
      ]);
      return out
        .split('\n')
        .filter(Boolean)
        .map((n) => posix.join(vmsDir(poolPath), n));
    },
  };
}
