import { closeSync } from 'node:fs';

/** Closes a descriptor on a path that is already failing or done: a close error must not hide the cause. */
export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Linux releases the descriptor even when close reports an error.
  }
}
