/**
 * Small tmpfs mounts for disk-full tests (root only): mountTmpfs() mounts a fresh tmpfs of the
 * given size on a new temp dir; remount() changes its size in place (contents kept); unmount()
 * unmounts (lazily when busy) and removes the mount point. Every mount made here is also
 * unmounted when the process exits, in case a test dies before its afterAll.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRoot } from '../harness/system-user.ts';

export interface TmpfsMount {
  readonly path: string;
  remount(size: string): void;
  unmount(): void;
}

const mounted = new Set<string>();
let hooked = false;

function run(command: string, args: string[]): { ok: boolean; output: string } {
  const out = spawnSync(command, args, { encoding: 'utf8', timeout: 10_000 });
  return { ok: out.status === 0, output: `${out.stdout ?? ''}${out.stderr ?? ''}${out.error ? String(out.error) : ''}`.trim() };
}

function umount(path: string): void {
  if (!mounted.has(path)) return;
  const plain = run('umount', [path]);
  if (!plain.ok) {
    const lazy = run('umount', ['-l', path]);
    if (!lazy.ok) throw new Error(`umount ${path} failed: ${plain.output}; umount -l: ${lazy.output}`);
  }
  mounted.delete(path);
  try {
    rmdirSync(path);
  } catch {
    // left for the temp dir cleaner
  }
}

/** Why a tmpfs cannot be mounted here (not root, not Linux), or undefined. */
export function tmpfsUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return 'tmpfs mounts need Linux';
  if (!isRoot()) return 'mounting a tmpfs needs root';
  return undefined;
}

export function mountTmpfs(size: string): TmpfsMount {
  const path = mkdtempSync(join(tmpdir(), 'mailnode-tmpfs-'));
  const result = run('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', path]);
  if (!result.ok) {
    rmdirSync(path);
    throw new Error(`mount -t tmpfs -o size=${size} on ${path} failed: ${result.output}`);
  }
  mounted.add(path);
  if (!hooked) {
    hooked = true;
    process.once('exit', () => {
      for (const p of [...mounted]) {
        try {
          umount(p);
        } catch {
          // nothing more to do while exiting
        }
      }
    });
  }
  return {
    path,
    remount(newSize: string) {
      const again = run('mount', ['-o', `remount,size=${newSize}`, path]);
      if (!again.ok) throw new Error(`mount -o remount,size=${newSize} ${path} failed: ${again.output}`);
    },
    unmount: () => umount(path),
  };
}

/** Unmounts every mount still made by this module. */
export function unmountAll(): void {
  const errors: string[] = [];
  for (const path of [...mounted]) {
    try {
      umount(path);
    } catch (error) {
      errors.push((error as Error).message);
    }
  }
  if (errors.length) throw new Error(errors.join('\n'));
}
