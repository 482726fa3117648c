/**
 * When the store may do its small file-system calls synchronously.
 *
 * Opening, reading and closing a 4 KiB message from the page cache, listing a Maildir or
 * creating a lock file takes microseconds on the main thread, while the thread pool costs a
 * hand-off and two wake-ups per call (and on a small machine the woken worker often preempts
 * the main thread): at POP3 rates (a RETR, a login) that hand-off is most of the server's CPU
 * and of its latency. A call that has to wait for the disk, though, would stall every session
 * of the process. So calls are synchronous only while they are fast: SLOW_CALLS_TO_CLOSE calls
 * in a row slower than the gate's limit (one slow call alone is more likely the process being
 * descheduled) send its calls back to the thread pool for ASYNC_AFTER_SLOW_IO_MS, after which
 * synchronous calls are tried again.
 */
/** Reads and listings: a cold disk makes them slower than this. */
export const SLOW_SYNC_READ_MS = 2;
/**
 * Creating and removing lock files: these wait for the file-system journal, which other
 * writers' fsyncs (the retriever's, for one) can hold for milliseconds. A tighter limit.
 */
export const SLOW_SYNC_METADATA_MS = 0.5;
export const SLOW_CALLS_TO_CLOSE = 3;
export const ASYNC_AFTER_SLOW_IO_MS = 10_000;

export class SyncIoGate {
  private slowInARow = 0;
  private asyncUntil = 0;

  constructor(
    private readonly enabled: boolean,
    private readonly slowMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** True when the next call may be done synchronously. */
  get open(): boolean {
    return this.enabled && (this.asyncUntil === 0 || this.now() >= this.asyncUntil);
  }

  /** Runs a synchronous call and times it; slow ones in a row close the gate for a while. */
  timed<T>(call: () => T): T {
    const start = this.now();
    try {
      return call();
    } finally {
      if (this.now() - start <= this.slowMs) {
        this.slowInARow = 0;
        this.asyncUntil = 0;
      } else if (++this.slowInARow >= SLOW_CALLS_TO_CLOSE) {
        this.slowInARow = 0;
        this.asyncUntil = this.now() + ASYNC_AFTER_SLOW_IO_MS;
      }
    }
  }
}

/** The store's two gates: a slow journal need not send reads to the thread pool too. */
export interface SyncIoGates {
  readonly reads: SyncIoGate;
  readonly metadata: SyncIoGate;
}

export function syncIoGates(enabled: boolean): SyncIoGates {
  return { reads: new SyncIoGate(enabled, SLOW_SYNC_READ_MS), metadata: new SyncIoGate(enabled, SLOW_SYNC_METADATA_MS) };
}
