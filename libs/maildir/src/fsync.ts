import { closeSync, fsync, openSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { SyncIoGate } from './sync-io-gate.ts';

/**
 * fsync a directory so the entries created or removed in it (link, rename, unlink) survive
 * a crash; a file's own fsync does not cover its directory entry. With an open `gate` the
 * directory is opened and closed on the main thread and only the fsync waits in the thread pool.
 */
export async function fsyncDirectory(path: string, gate?: SyncIoGate): Promise<void> {
  if (gate?.open) {
    const fd = gate.timed(() => openSync(path, 'r'));
    try {
      await fsyncDescriptor(fd);
    } finally {
      closeSync(fd);
    }
    return;
  }
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** fsync(2) of a plain descriptor in the thread pool: the one call here that waits for the disk. */
export function fsyncDescriptor(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (error) => (error ? reject(error) : resolve())));
}
