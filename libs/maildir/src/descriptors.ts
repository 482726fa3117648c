import { closeSync, unlinkSync } from 'node:fs';

/** Closes a descriptor on a path that is already failing or done: a close error must not hide the cause. */
export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Linux releases the descriptor even when close reports an error.
  }
}

/** Removes a file left by a failed write; if that fails too, the file stays for its sweep to find. */
export function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Nothing to remove, or a removal that fails as well: not the error worth reporting.
  }
}
