import { lstat, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isMissing } from './io-error.ts';
import type { MaildirLogger } from './options.ts';

/** The Maildir spec: a tmp/ file untouched for 36 hours belongs to a deliverer that died. */
export const TMP_MAX_AGE_MS = 36 * 60 * 60 * 1000;
/** Sweeping costs a readdir of tmp/, so each mailbox is swept at most this often per process. */
export const TMP_SWEEP_INTERVAL_MS = 60 * 60 * 1000;

/** Removes stale tmp/ files. Best effort: failures are logged, never thrown. */
export async function sweepTmp(tmpDir: string, now: number, log: MaildirLogger): Promise<number> {
  let removed = 0;
  let names: string[];
  try {
    names = await readdir(tmpDir);
  } catch (error) {
    if (!isMissing(error)) log.warn({ err: error, dir: tmpDir }, 'cannot list tmp directory');
    return 0;
  }
  for (const name of names) {
    const path = join(tmpDir, name);
    try {
      const st = await lstat(path);
      if (!st.isFile()) continue;
      const touched = Math.max(st.atimeMs, st.mtimeMs, st.ctimeMs);
      if (now - touched <= TMP_MAX_AGE_MS) continue;
      await unlink(path);
      removed++;
    } catch (error) {
      if (!isMissing(error)) log.warn({ err: error, path }, 'cannot remove stale tmp file');
    }
  }
  return removed;
}

/** Remembers when each tmp/ directory was last swept by this process. */
export class TmpSweeper {
  private readonly lastSweep = new Map<string, number>();

  constructor(private readonly log: MaildirLogger) {}

  /** Sweeps tmpDir unless this process did so within the last hour. */
  async maybeSweep(tmpDir: string, now = Date.now()): Promise<void> {
    const last = this.lastSweep.get(tmpDir);
    if (last !== undefined && now - last < TMP_SWEEP_INTERVAL_MS) return;
    this.lastSweep.set(tmpDir, now);
    await sweepTmp(tmpDir, now, this.log);
  }
}
