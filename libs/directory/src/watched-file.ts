/**
 * One Directory file, re-read when it changes so edits take effect without a restart. On access
 * it stats the file at most once per reloadCheckMs and reparses only when inode, size, mtime or
 * ctime changed (ctime also catches a chmod, which matters for the users-file mode check).
 *
 * Failure policy:
 * - missing file: "no entries" (warned once per disappearance);
 * - refused file (checkFile returns a reason): always throws, even with a good copy in memory;
 * - unreadable file (EACCES, EIO, ...): we keep serving the last good copy if there is one,
 *   because a transient I/O error or a half-done permission change should not lock every user
 *   out or bounce mail; only without a good copy do we throw DirectoryUnavailableError.
 *   Each failure is logged once per episode, not once per access.
 */
import { constants } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { DirectoryUnavailableError } from './contract.ts';
import type { DirectoryLog } from './directory-log.ts';
import type { ParsedDirectoryFile } from './directory-lines.ts';

export interface WatchedFileOptions<T> {
  readonly path: string;
  /** 'users', 'aliases' or 'domains', for messages. */
  readonly kind: string;
  readonly empty: T;
  readonly parse: (text: string) => ParsedDirectoryFile<T>;
  /** A reason to refuse the file given its stats, or null to accept it. */
  readonly checkFile?: (stats: Stats) => string | null;
  readonly reloadCheckMs: number;
  readonly log: DirectoryLog;
}

type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: DirectoryUnavailableError };

export class WatchedFile<T> {
  private outcome: Outcome<T> | undefined;
  private lastGood: T | undefined;
  /** Identity of the file version `lastGood` came from; 'missing' when it did not exist. */
  private identity: string | undefined;
  private checkedAt = Number.NEGATIVE_INFINITY;
  private inFlight: Promise<Outcome<T>> | undefined;
  /** The condition most recently logged, so a persisting problem is logged once. */
  private reported: string | undefined;

  constructor(private readonly options: WatchedFileOptions<T>) {}

  /** The current contents; throws DirectoryUnavailableError when the file is refused or unreadable. */
  async current(): Promise<T> {
    const fresh = performance.now() - this.checkedAt < this.options.reloadCheckMs;
    let outcome = fresh ? this.outcome : undefined;
    if (!outcome) {
      this.inFlight ??= this.refresh().finally(() => {
        this.inFlight = undefined;
      });
      outcome = await this.inFlight;
    }
    if (!outcome.ok) throw outcome.error;
    return outcome.value;
  }

  private async refresh(): Promise<Outcome<T>> {
    this.checkedAt = performance.now();
    this.outcome = await this.load();
    return this.outcome;
  }

  private async load(): Promise<Outcome<T>> {
    const { path, kind } = this.options;
    let stats: Stats;
    try {
      stats = await stat(path);
    } catch (error) {
      return isMissing(error) ? this.missing() : this.unreadable(error);
    }
    if (!stats.isFile()) return this.unreadable(new Error('not a regular file'));
    const refused = this.options.checkFile?.(stats);
    if (refused) return this.refuse(refused);
    if (this.identity === identityOf(stats) && this.lastGood !== undefined) return this.healthy(this.lastGood);

    // Read through one handle and take identity and checks from its fstat, so a file replaced
    // between stat() and read() cannot slip past the checks.
    let text: string;
    let readStats: Stats;
    try {
      // O_NONBLOCK: should the path have been swapped for a FIFO, open() must not hang.
      const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
      try {
        readStats = await handle.stat();
        if (!readStats.isFile()) return this.unreadable(new Error('not a regular file'));
        const refusedNow = this.options.checkFile?.(readStats);
        if (refusedNow) return this.refuse(refusedNow);
        text = await handle.readFile('utf8');
      } finally {
        await handle.close();
      }
    } catch (error) {
      return isMissing(error) ? this.missing() : this.unreadable(error);
    }

    const { value, problems } = this.options.parse(text);
    for (const problem of problems) {
      this.options.log.warn({ file: path, line: problem.line, reason: problem.reason }, `${kind} file ${path} line ${problem.line}: ${problem.reason}; line skipped`);
    }
    this.identity = identityOf(readStats);
    this.lastGood = value;
    return this.healthy(value);
  }

  private healthy(value: T): Outcome<T> {
    this.reported = undefined;
    return { ok: true, value };
  }

  private missing(): Outcome<T> {
    const { path, kind } = this.options;
    this.reportOnce('missing', () => this.options.log.warn({ file: path }, `${kind} file ${path} does not exist; treating it as empty`));
    this.identity = 'missing';
    this.lastGood = this.options.empty;
    return { ok: true, value: this.options.empty };
  }

  private refuse(reason: string): Outcome<T> {
    const { path } = this.options;
    this.reportOnce(`refused:${reason}`, () => this.options.log.error({ file: path, reason }, reason));
    return { ok: false, error: new DirectoryUnavailableError(reason) };
  }

  private unreadable(cause: unknown): Outcome<T> {
    const { path, kind } = this.options;
    const code = errorCode(cause);
    const message = `cannot read ${kind} file ${path}: ${code}`;
    const stale = this.lastGood;
    this.reportOnce(`unreadable:${code}`, () =>
      this.options.log.error(
        { file: path, code, servingLastGoodCopy: stale !== undefined },
        stale !== undefined ? `${message}; serving the last good copy` : message,
      ),
    );
    // Forget the identity so the next check retries the read even if the stats look unchanged.
    this.identity = undefined;
    if (stale !== undefined) return { ok: true, value: stale };
    return { ok: false, error: new DirectoryUnavailableError(message, { cause }) };
  }

  private reportOnce(condition: string, report: () => void): void {
    if (this.reported === condition) return;
    this.reported = condition;
    report();
  }
}

function identityOf(stats: Stats): string {
  return `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}`;
}

function isMissing(error: unknown): boolean {
  const code = errorCode(error);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

function errorCode(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string') return error.code;
  return error instanceof Error ? error.message : String(error);
}
