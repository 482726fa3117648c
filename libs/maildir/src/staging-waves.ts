/**
 * Group commit for staging small messages: they are written to tmp/ in waves.
 *
 * A wave creates and writes every file queued for it on the main thread, then makes them all
 * durable at once (WaveSync: one syncfs of their file system, or all their fsyncs together) and
 * ends when that is done; the files queued meanwhile make the next wave. Two costs of staging
 * each message on its own go away even with one fsync per file:
 *
 * - Creating a file while fsyncs of files in the same directory are in flight waits for them:
 *   the fsync of a new file also writes its directory (ext4 without a journal syncs the parent),
 *   and the create needs that directory block. Within a wave every create comes before any fsync.
 * - Each fsync handed to an idle thread-pool thread costs the main thread a wake-up of that
 *   thread (tens of microseconds on a small VM); fsyncs submitted in a burst find the threads
 *   still busy with the burst and wake only as many as there are threads.
 *
 * The durability of each message is unchanged: its promise resolves only once it is on disk.
 * Creating, writing and closing stay synchronous (from the page cache they take microseconds,
 * while a thread-pool hand-off costs a wake-up on both sides for each), and creations in one
 * tmp/ stay one at a time: on ext4 without a journal a creation right after a large expunge
 * can take a millisecond, and thread-pool workers creating in one directory at once only spin
 * on its lock.
 */
import { closeSync, openSync } from 'node:fs';
import { closeQuietly, removeQuietly } from './descriptors.ts';
import { writeAllSync } from './file-writer.ts';
import { errorCode } from './io-error.ts';
import type { SyncIoGate } from './sync-io-gate.ts';
import { fsyncEach, type WaveSync } from './wave-sync.ts';

/** Larger messages are written through the thread pool: a big copy would hold up the event loop. */
export const SMALL_FILE_BYTES = 64 * 1024;

interface StagingJob {
  readonly path: string;
  readonly data: Uint8Array;
  readonly mode: number;
  /** Creates the missing directory (a new Maildir); called at most once per job. */
  readonly whenMissing: () => Promise<void>;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

export class StagingWaves {
  private queued: StagingJob[] = [];
  private running = false;
  private scheduled = false;

  /**
   * `gate` times the creates and writes, so a slow disk sends later messages to the thread
   * pool; `sync` makes a written wave durable (replaced in tests to watch the waves).
   */
  constructor(
    private readonly gate: SyncIoGate,
    private readonly sync: WaveSync = fsyncEach(),
  ) {}

  /**
   * Creates `path` (it must not exist), writes `data` and makes it durable, in the next wave.
   * On failure the partial file is removed.
   */
  stage(path: string, data: Uint8Array, mode: number, whenMissing: () => Promise<void>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queued.push({ path, data, mode, whenMissing, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.running || this.scheduled) return;
    this.scheduled = true;
    // After the current turn: the messages that arrive together go out together.
    setImmediate(() => void this.runWave());
  }

  private async runWave(): Promise<void> {
    this.scheduled = false;
    this.running = true;
    const jobs = this.queued;
    this.queued = [];
    try {
      const fds = await Promise.all(jobs.map((job) => this.createAndWrite(job)));
      const written = jobs.flatMap((job, i) => (fds[i] === undefined ? [] : [{ job, fd: fds[i], path: job.path }]));
      const outcomes = await this.sync(written).then(
        (each) => (each.length === written.length ? each : written.map(() => new Error('wave sync answered for the wrong number of files'))),
        (error: unknown) => written.map(() => error),
      );
      written.forEach(({ job, fd }, i) => this.close(job, fd, outcomes[i]));
    } finally {
      this.running = false;
      if (this.queued.length > 0) this.schedule();
    }
  }

  /** The open descriptor of the written file, or undefined when the job already failed. */
  private async createAndWrite(job: StagingJob): Promise<number | undefined> {
    let fd: number;
    try {
      fd = this.create(job);
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') return this.failed(job, error);
      try {
        await job.whenMissing();
        fd = this.create(job);
      } catch (retryError) {
        return this.failed(job, retryError);
      }
    }
    try {
      this.gate.timed(() => writeAllSync(fd, job.data));
      return fd;
    } catch (error) {
      closeQuietly(fd);
      removeQuietly(job.path);
      return this.failed(job, error);
    }
  }

  private create(job: StagingJob): number {
    return this.gate.timed(() => openSync(job.path, 'wx', job.mode));
  }

  /** Closes a file the wave synced: staged, or removed when it could not be made durable. */
  private close(job: StagingJob, fd: number, syncError: unknown): void {
    if (syncError !== undefined) {
      closeQuietly(fd);
      removeQuietly(job.path);
      job.reject(syncError);
      return;
    }
    try {
      closeSync(fd);
    } catch (error) {
      removeQuietly(job.path);
      job.reject(error);
      return;
    }
    job.resolve();
  }

  private failed(job: StagingJob, error: unknown): undefined {
    job.reject(error);
    return undefined;
  }
}
