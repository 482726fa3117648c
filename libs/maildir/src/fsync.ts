import { open } from 'node:fs/promises';

/**
 * fsync a directory so the entries created or removed in it (link, rename, unlink) survive
 * a crash; a file's own fsync does not cover its directory entry.
 */
export async function fsyncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
