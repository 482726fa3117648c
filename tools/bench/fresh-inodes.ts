/**
 * Gives every retriever run a destination where creating a file costs what it normally costs.
 *
 * On ext4 without a journal (this VM's root file system) a new file skips every inode of its
 * block group freed in the last `dirty_expire_centisecs` ... counted in *seconds* (50 minutes by
 * default) while the inode table block is cached, rescanning for each creation. A bench that
 * deletes the previous run's 2 000 files makes each creation of the next run cost 0.3-1 ms, for
 * mpop as much as for mailnode, and the table then measures the kernel's scan instead of the
 * retrievers. Journaled ext4, what mail servers run on, does not do this.
 *
 * So runs are not deleted until the section ends, their parent gets ext4's "top of directory
 * hierarchy" flag (`chattr +T`, so the Orlov allocator puts each run's directory, and the files
 * under it, in a block group of its own, chosen from the name's hash), and a probe creates a few
 * files in each new run directory: a directory where they are slow (a group with inodes freed by
 * an earlier bench) is left and another name tried.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

const PROBE_FILES = 64;
/** A cheap creation takes 10-40 us here; a scan past thousands of freed inodes takes 300+. */
const SLOW_CREATE_US = 120;
const ATTEMPTS = 8;

export interface RunDirectory {
  readonly dir: string;
  /** Microseconds per file creation measured by the probe in the chosen directory. */
  readonly createMicros: number;
  /** Directories left because creating files in them was slow. */
  readonly skipped: number;
}

/** Sets the +T flag on `dir` (where ext4 has it); returns a line for the report. */
export function spreadSubdirectories(dir: string): string {
  const result = spawnSync('chattr', ['+T', dir], { encoding: 'utf8', timeout: 5000 });
  if (result.status === 0) return 'each run in a directory of its own block group (chattr +T), kept until the end';
  const why = (result.stderr || result.error?.message || `exit ${result.status}`).trim();
  return `each run in a directory of its own, kept until the end (chattr +T unavailable: ${why})`;
}

/** A new directory under `parent` for the run `label`, in which creating files is cheap. */
export function freshRunDirectory(parent: string, label: string): RunDirectory {
  let best: RunDirectory | undefined;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const dir = join(parent, `${label}-${randomBytes(4).toString('hex')}`);
    mkdirSync(dir, { mode: 0o755 });
    const createMicros = probeCreates(join(dir, 'probe'));
    if (!best || createMicros < best.createMicros) best = { dir, createMicros, skipped: attempt };
    if (createMicros < SLOW_CREATE_US) return { dir, createMicros, skipped: attempt };
  }
  return { ...best!, skipped: ATTEMPTS - 1 };
}

function probeCreates(dir: string): number {
  mkdirSync(dir);
  const start = process.hrtime.bigint();
  for (let i = 0; i < PROBE_FILES; i++) closeSync(openSync(join(dir, String(i)), 'wx'));
  return Number(process.hrtime.bigint() - start) / 1e3 / PROBE_FILES;
}
