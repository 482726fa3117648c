/**
 * When small messages may be read synchronously.
 *
 * A 4 KiB message from the page cache takes a few microseconds to open, read and close on the
 * main thread, while the thread pool costs three hand-offs (and wake-ups) per message: at POP3
 * RETR rates that hand-off is most of the server's CPU. A read that has to wait for the disk,
 * though, would stall every session of the process. So reads are synchronous only while they
 * are fast: SLOW_READS_TO_CLOSE reads in a row slower than SLOW_SYNC_READ_MS (a cold mailbox;
 * one slow read alone is more likely the process being descheduled) send every read back to the
 * thread pool for ASYNC_AFTER_SLOW_READS_MS, after which synchronous reads are tried again.
 */
export const SLOW_SYNC_READ_MS = 2;
export const SLOW_READS_TO_CLOSE = 3;
export const ASYNC_AFTER_SLOW_READS_MS = 10_000;

export class SyncReadGate {
  private slowInARow = 0;
  private asyncUntil = 0;

  constructor(
    private readonly enabled: boolean,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** True when the next small read may be done synchronously. */
  get open(): boolean {
    return this.enabled && (this.asyncUntil === 0 || this.now() >= this.asyncUntil);
  }

  /** Runs a synchronous read and times it; slow ones in a row close the gate for a while. */
  timed<T>(read: () => T): T {
    const start = this.now();
    try {
      return read();
    } finally {
      if (this.now() - start <= SLOW_SYNC_READ_MS) {
        this.slowInARow = 0;
        this.asyncUntil = 0;
      } else if (++this.slowInARow >= SLOW_READS_TO_CLOSE) {
        this.slowInARow = 0;
        this.asyncUntil = this.now() + ASYNC_AFTER_SLOW_READS_MS;
      }
    }
  }
}
