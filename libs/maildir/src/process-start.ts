import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

/**
 * Process start time (field 22 of /proc/<pid>/stat, clock ticks since boot): with the pid it
 * identifies a process, so a lock naming a reused pid can be told apart from a live holder.
 */
export function parseStartTime(stat: string): number | null {
  // The command name (field 2) may contain spaces and ')', so count fields after the last ')'.
  const close = stat.lastIndexOf(')');
  if (close < 0) return null;
  const fields = stat.slice(close + 2).split(' ');
  const value = Number(fields[19]);
  return Number.isSafeInteger(value) ? value : null;
}

let own: number | null | undefined;

/** Start time of this process, read once; null where /proc is not available. */
export function ownStartTime(): number | null {
  if (own === undefined) {
    try {
      own = parseStartTime(readFileSync('/proc/self/stat', 'utf8'));
    } catch {
      own = null;
    }
  }
  return own;
}

/** Start time of another process; null when it cannot be read (no /proc, process gone, hidden). */
export async function startTimeOf(pid: number): Promise<number | null> {
  try {
    return parseStartTime(await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

/** process.kill(pid, 0): ESRCH means no such process; EPERM means it exists but is not ours. */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}
