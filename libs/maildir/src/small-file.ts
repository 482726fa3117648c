/**
 * A small message staged from the main thread: create, write and close are synchronous (from
 * the page cache they take microseconds, while a thread-pool hand-off costs a wake-up on both
 * sides for each), and only the fsync, which waits for the disk, goes to the thread pool.
 *
 * Synchronous creation also keeps creations in one tmp/ one at a time. A create holds the
 * directory's lock, and on some file systems it is slow (ext4 without a journal skips every
 * recently deleted inode, up to a millisecond per file after a large expunge): thread-pool
 * workers creating in the same tmp/ at once then spin on that lock and burn a CPU between them.
 */
import { closeSync, openSync, unlinkSync } from 'node:fs';
import { writeAllSync } from './file-writer.ts';
import { fsyncDescriptor } from './fsync.ts';
import { errorCode } from './io-error.ts';
import type { SyncIoGate } from './sync-io-gate.ts';
import { closeQuietly } from './descriptors.ts';

/** Larger messages are written through the thread pool: a big copy would hold up the event loop. */
export const SMALL_FILE_BYTES = 64 * 1024;

/**
 * Creates `path` (it must not exist), writes `data` and fsyncs it. `whenMissing` runs once if
 * the directory is missing (a new Maildir). On failure the partial file is removed.
 */
export async function writeSmallFileDurably(
  gate: SyncIoGate,
  path: string,
  data: Uint8Array,
  mode: number,
  whenMissing: () => Promise<void>,
): Promise<void> {
  let fd: number;
  try {
    fd = gate.timed(() => openSync(path, 'wx', mode));
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') throw error;
    await whenMissing();
    fd = gate.timed(() => openSync(path, 'wx', mode));
  }
  let open = true;
  try {
    gate.timed(() => writeAllSync(fd, data));
    await fsyncDescriptor(fd);
    open = false;
    closeSync(fd);
  } catch (error) {
    if (open) closeQuietly(fd);
    try {
      unlinkSync(path);
    } catch {
      // Nothing to remove, or a removal that fails too: the 36-hour tmp/ sweep gets it.
    }
    throw error;
  }
}
