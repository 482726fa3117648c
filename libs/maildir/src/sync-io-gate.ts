/**
 * When the store may do its small file-system calls synchronously.
 *
 * Opening, reading and closing a 4 KiB message from the page cache, listing a Maildir or
 * creating a lock file takes microseconds on the main thread, while the thread pool costs a
 * hand-off and two wake-ups per call: at POP3 rates (a RETR, a login) that hand-off is most of
 * the server's CPU and of its latency. A call that has to wait for the disk, though, would
 * stall every session of the process. So calls are synchronous only while they are fast:
 * SLOW_CALLS_TO_CLOSE calls in a row slower than SLOW_SYNC_IO_MS (a cold disk; one slow call
 * alone is more likely the process being descheduled) send every call back to the thread pool
 * for ASYNC_AFTER_SLOW_IO_MS, after which synchronous calls are tried again.
 */
export const SLOW_SYNC_IO_MS = 2;
export const SLOW_CALLS_TO_CLOSE = 3;
export const ASYNC_AFTER_SLOW_IO_MS = 10_000;

export class SyncIoGate {
  private slowInARow = 0;
  private asyncUntil = 0;

  constructor(
    private readonly enabled: boolean,
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
      if (this.now() - start <= SLOW_SYNC_IO_MS) {
        this.slowInARow = 0;
        this.asyncUntil = 0;
      } else if (++this.slowInARow >= SLOW_CALLS_TO_CLOSE) {
        this.slowInARow = 0;
        this.asyncUntil = this.now() + ASYNC_AFTER_SLOW_IO_MS;
      }
    }
  }
}

/** A gate that is never open: every call goes to the thread pool. */
export const ALWAYS_ASYNC = new SyncIoGate(false);
