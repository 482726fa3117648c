/**
 * File creations in one directory through the thread pool, at most two at a time. A create
 * holds the directory's lock, and on some file systems it is slow (ext4 without a journal skips
 * every recently deleted inode, up to a millisecond per file after a large expunge). More
 * workers creating in the same tmp/ at once only wait for that lock (spinning on it, on some
 * kernels) while the fsyncs queued behind them cannot run. Two at a time: one creates, the next
 * waits in the kernel, so the directory is never idle between creations.
 */
const CREATES_PER_DIRECTORY = 2;

interface DirectoryQueue {
  running: number;
  readonly waiting: Array<() => void>;
}

const queues = new Map<string, DirectoryQueue>();

export async function limitCreates<T>(directory: string, create: () => Promise<T>): Promise<T> {
  let queue = queues.get(directory);
  if (!queue) queues.set(directory, (queue = { running: 0, waiting: [] }));
  if (queue.running >= CREATES_PER_DIRECTORY) await new Promise<void>((resolve) => queue!.waiting.push(resolve));
  else queue.running++;
  try {
    return await create();
  } finally {
    const next = queue.waiting.shift();
    // The slot passes straight to the next waiter; the last one out forgets the directory.
    if (next) next();
    else if (--queue.running === 0) queues.delete(directory);
  }
}

/** Creations running or waiting in `directory` (for tests). */
export function createsIn(directory: string): number {
  const queue = queues.get(directory);
  return queue ? queue.running + queue.waiting.length : 0;
}
