import { close, ftruncate, linkSync, open as openCallback, openSync, unlinkSync, write, writeSync } from 'node:fs';
import { open, readdir, stat, unlink, utimes } from 'node:fs/promises';
import { basename, dirname, join, sep } from 'node:path';
import type { FileHandle } from 'node:fs/promises';
import { MailboxLockedError } from '@mailnode/message-store';
import { errorCode, isMissing, unavailable } from './io-error.ts';
import type { MaildirLogger } from './options.ts';
import { isProcessAlive, ownStartTime, startTimeOf } from './process-start.ts';
import type { SyncIoGate } from './sync-io-gate.ts';
import { closeQuietly, removeQuietly } from './descriptors.ts';

/** What a lock file holds: enough to decide whether its holder still lives. */
export interface LockRecord {
  readonly pid: number;
  readonly host: string;
  readonly start: number | null;
}

export interface LockOptions {
  readonly hostname: string;
  readonly foreignLockStaleMs: number;
  /**
   * Spares kept at most (one per mailbox opened): past that the oldest not in use is removed, so
   * a node serving very many mailboxes does not keep a spare, and its name in memory, for each.
   */
  readonly maxSpares: number;
  readonly fileMode: number;
  readonly log: MaildirLogger;
  /** Creates the Maildir when the lock file cannot be created because it is missing. */
  readonly createMaildir: () => Promise<void>;
  /** Whether the lock file may be created and removed synchronously right now. */
  readonly gate: SyncIoGate;
}

/**
 * A lock file that is empty or garbled may be one being written right now; after this long
 * its writer died between create and write, and the file must not lock the user out.
 */
const UNREADABLE_LOCK_GRACE_MS = 10_000;

/** Locks held by this process, by lock path: a second open fails without touching the disk. */
const heldLocks = new Map<string, MailboxLock>();

/**
 * This process's spare lock files, by lock path. A spare sits next to the lock, is made once per
 * process and mailbox, and holds the process's record; taking the lock is one link() of the spare
 * to the lock's name, releasing it one unlink() of that name. No inode is created or freed per
 * session: on ext4 without a journal, creating a file scans past every inode its group freed in
 * the last minutes, so a lock file made and removed per login made logins slower the longer a
 * server ran. The lock is whole the moment its name appears, record included. Where hard links
 * are not available the lock file is created per session instead (create()).
 */
const spares = new Map<string, string>();
/** Lock paths on file systems that refused a hard link: lock files there, without spares. */
const withoutLinks = new Set<string>();
const SPARE_MARK = '.spare.';

interface LockSnapshot {
  readonly text: string;
  readonly dev: number;
  readonly ino: number;
  readonly mtimeMs: number;
}

type Verdict = { kind: 'gone' } | { kind: 'stale'; snapshot: LockSnapshot; why: string } | { kind: 'held'; holder: string };

/** Exclusive per-mailbox lock across processes and hosts: `<Maildir>/mailnode-pop3.lock`. */
export class MailboxLock {
  private released = false;
  private refreshTimer: NodeJS.Timeout | undefined;
  /** The disk was full: the lock file exists but holds no record (see fill()). */
  private withoutRecord = false;
  /** Settles once the record is written or given up (see create()); never rejects. */
  recorded: Promise<void> = Promise.resolve();

  private constructor(
    readonly path: string,
    private readonly options: LockOptions,
  ) {}

  static async acquire(user: string, path: string, options: LockOptions): Promise<MailboxLock> {
    if (heldLocks.has(path)) throw new MailboxLockedError(user, describe({ pid: process.pid, host: options.hostname }));
    const lock = new MailboxLock(path, options);
    // Claimed before the first await so a concurrent open in this process fails fast.
    heldLocks.set(path, lock);
    try {
      await lock.create(user);
    } catch (error) {
      heldLocks.delete(path);
      throw error;
    }
    lock.startRefresh();
    return lock;
  }

  /** Removes the lock file. Idempotent; failures are logged (a leftover names a dead or our own pid and is stale). */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    clearInterval(this.refreshTimer);
    await this.recorded;
    try {
      if (this.options.gate.open) this.options.gate.timed(() => unlinkSync(this.path));
      else await unlink(this.path);
    } catch (error) {
      if (!isMissing(error)) this.options.log.warn({ err: error, path: this.path }, 'cannot remove mailbox lock');
    } finally {
      if (heldLocks.get(this.path) === this) heldLocks.delete(this.path);
    }
  }

  private async create(user: string): Promise<void> {
    const record: LockRecord = { pid: process.pid, host: this.options.hostname, start: ownStartTime() };
    const text = JSON.stringify(record);
    if (this.options.gate.open && this.options.gate.timed(() => this.linkNow(text) ?? this.createNow(text))) return;
    let createdMaildir = false;
    let retried = false;
    for (;;) {
      let fd: number;
      try {
        fd = await openExclusive(this.path, this.options.fileMode);
      } catch (error) {
        const code = errorCode(error);
        if (code === 'ENOENT' && !createdMaildir) {
          createdMaildir = true;
          await this.options.createMaildir();
          continue;
        }
        if (code !== 'EEXIST') throw unavailable(`cannot lock mailbox of ${user}`, error);
        const verdict = await this.judge();
        if (verdict.kind === 'held') throw new MailboxLockedError(user, verdict.holder);
        if (retried) throw new MailboxLockedError(user);
        retried = true;
        if (verdict.kind === 'stale') await this.breakStale(verdict.snapshot, verdict.why);
        continue;
      }
      // The lock is ours once the file exists. Its record is written while the caller lists the
      // mailbox (it awaits `recorded` with that) and the file is closed off the critical path:
      // a login waits for one thread-pool round trip here instead of three. Until the record
      // lands, others see a lock being written, which they treat as held.
      this.recorded = this.fill(fd, text);
      return;
    }
  }

  /**
   * The usual case: links this process's spare to the lock's name (see `spares`). True when the
   * lock is ours, false when a lock is there (the asynchronous path judges it), undefined when
   * no spare can be used (createNow then makes the lock file).
   */
  private linkNow(text: string): boolean | undefined {
    if (withoutLinks.has(this.path)) return undefined;
    // Twice: a spare removed by hand is made again at once.
    for (let attempt = 0; attempt < 2; attempt++) {
      const spare = spares.get(this.path) ?? this.makeSpare(text);
      if (spare === undefined) return undefined;
      try {
        linkSync(spare, this.path);
        return true;
      } catch (error) {
        const code = errorCode(error);
        if (code === 'EEXIST') return false;
        if (isMissing(error)) {
          spares.delete(this.path);
          continue;
        }
        if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS') {
          // No hard links on this file system: lock files there, from now on.
          spares.delete(this.path);
          removeQuietly(spare);
          withoutLinks.add(this.path);
        }
        // Anything else (a full disk the directory cannot grow on...): a lock file this time.
        return undefined;
      }
    }
    return undefined;
  }

  /** Writes this process's spare for this mailbox; undefined if it cannot be written whole. */
  private makeSpare(text: string): string | undefined {
    const spare = `${this.path}${SPARE_MARK}${process.pid}.${ownStartTime() ?? 0}.${this.options.hostname}`;
    if (!writeWhole(spare, 'w', this.options.fileMode, text)) return undefined;
    spares.set(this.path, spare);
    while (spares.size > this.options.maxSpares && retireOldestSpare());
    void this.removeDeadSpares();
    return spare;
  }

  /** Spares of this host's processes that ended (killed, or no clean exit) are removed once per new spare. */
  private async removeDeadSpares(): Promise<void> {
    const prefix = `${basename(this.path)}${SPARE_MARK}`;
    try {
      for (const name of await readdir(dirname(this.path))) {
        if (!name.startsWith(prefix)) continue;
        const [pid, start, ...host] = name.slice(prefix.length).split('.');
        if (host.join('.') !== this.options.hostname || Number(pid) === process.pid) continue;
        const alive = isProcessAlive(Number(pid)) && (start === '0' || String(await startTimeOf(Number(pid))) === start);
        if (!alive) await unlink(join(dirname(this.path), name)).catch(() => undefined);
      }
    } catch {
      // Best effort: a spare left behind is a few bytes, and the next new spare tries again.
    }
  }

  /**
   * Without a spare, and without the thread pool (see SyncIoGate): the file did not exist and the
   * record fits. Anything else (a lock held or stale, no Maildir yet, a full disk) is undone
   * and left to the asynchronous path, which knows what to do about it.
   */
  private createNow(text: string): boolean {
    // If a failed write's removal fails too, the lock is left empty: the asynchronous path then
    // sees a lock being written, and refuses for now.
    return writeWhole(this.path, 'wx', this.options.fileMode, text);
  }

  /**
   * Not fsynced: after a crash or reboot the recorded pid is dead or has another start time, so
   * the file is stale anyway. If the record cannot be written (on a full disk the empty file
   * needs no data block, the record does) the lock is held without it: others see an unreadable
   * lock, held while its mtime is fresh (UNREADABLE_LOCK_GRACE_MS), so we refresh it well within
   * that. Users can then still log in and delete mail, which is what frees the space.
   */
  private async fill(fd: number, text: string): Promise<void> {
    try {
      await writeAll(fd, text);
    } catch (error) {
      await new Promise((resolve) => ftruncate(fd, 0, resolve));
      this.withoutRecord = true;
      if (this.refreshTimer) {
        clearInterval(this.refreshTimer);
        this.startRefresh();
      }
      const why = errorCode(error) === 'ENOSPC' ? 'disk full' : `cannot write it (${errorCode(error) ?? String(error)})`;
      this.options.log.warn({ path: this.path }, `${why}: holding the mailbox lock without its record`);
    } finally {
      close(fd, () => undefined);
    }
  }

  /** Decides whether an existing lock file belongs to a live holder. */
  private async judge(): Promise<Verdict> {
    const snapshot = await this.snapshot();
    if (!snapshot) return { kind: 'gone' };
    const record = parseRecord(snapshot.text);
    if (!record) {
      if (Date.now() - snapshot.mtimeMs > UNREADABLE_LOCK_GRACE_MS) return { kind: 'stale', snapshot, why: 'unreadable' };
      return { kind: 'held', holder: 'a process still writing its lock' };
    }
    const holder = describe(record);
    if (record.host !== this.options.hostname) {
      if (Date.now() - snapshot.mtimeMs > this.options.foreignLockStaleMs) {
        return { kind: 'stale', snapshot, why: 'not refreshed by its host' };
      }
      return { kind: 'held', holder };
    }
    if (record.pid === process.pid) {
      // Held by this process under another spelling of the path (a symlinked root), or left
      // behind by an earlier release of ours whose unlink failed.
      if (await this.heldUnderAlias(snapshot)) return { kind: 'held', holder };
      return { kind: 'stale', snapshot, why: 'left by this process' };
    }
    if (!isProcessAlive(record.pid)) return { kind: 'stale', snapshot, why: 'holder is dead' };
    if (record.start !== null) {
      const start = await startTimeOf(record.pid);
      if (start !== null && start !== record.start) return { kind: 'stale', snapshot, why: 'pid reused by another process' };
    }
    return { kind: 'held', holder };
  }

  /** Whether one of this process's held locks is this very file, reached through another path. */
  private async heldUnderAlias(snapshot: LockSnapshot): Promise<boolean> {
    const tail = lastComponents(this.path);
    for (const other of heldLocks.keys()) {
      if (other === this.path || lastComponents(other) !== tail) continue;
      const st = await stat(other).catch(() => undefined);
      if (st && st.dev === snapshot.dev && st.ino === snapshot.ino) return true;
    }
    return false;
  }

  /** Removes a stale lock only if it is still the very file that was judged stale. */
  private async breakStale(judged: LockSnapshot, why: string): Promise<void> {
    const now = await this.snapshot();
    if (!now || now.dev !== judged.dev || now.ino !== judged.ino || now.mtimeMs !== judged.mtimeMs || now.text !== judged.text) return;
    this.options.log.warn({ path: this.path, holder: judged.text, why }, 'removing stale mailbox lock');
    try {
      await unlink(this.path);
    } catch (error) {
      if (!isMissing(error)) throw unavailable('cannot remove stale mailbox lock', error);
    }
    // Its holder ended without releasing: its spare, if it had one, is left too.
    void this.removeDeadSpares();
  }

  private async snapshot(): Promise<LockSnapshot | null> {
    let handle: FileHandle;
    try {
      handle = await open(this.path, 'r');
    } catch (error) {
      if (isMissing(error)) return null;
      throw unavailable('cannot read mailbox lock', error);
    }
    try {
      const st = await handle.stat();
      const text = await handle.readFile('utf8');
      return { text, dev: st.dev, ino: st.ino, mtimeMs: st.mtimeMs };
    } catch (error) {
      throw unavailable('cannot read mailbox lock', error);
    } finally {
      await handle.close().catch(() => undefined);
    }
  }

  /** Other hosts cannot check our pid, so they judge by mtime: keep it fresh while held. */
  private startRefresh(): void {
    const every = this.withoutRecord ? Math.floor(UNREADABLE_LOCK_GRACE_MS / 4) : Math.max(1, Math.floor(this.options.foreignLockStaleMs / 3));
    this.refreshTimer = setInterval(() => {
      const now = new Date();
      utimes(this.path, now, now).catch((error: unknown) => {
        if (!this.released) this.options.log.warn({ err: error, path: this.path }, 'cannot refresh mailbox lock');
      });
    }, every);
    this.refreshTimer.unref();
  }
}


/** Removes the spare made longest ago whose lock this process does not hold; false if all are held. */
function retireOldestSpare(): boolean {
  for (const [lockPath, spare] of spares) {
    if (heldLocks.has(lockPath)) continue;
    spares.delete(lockPath);
    removeQuietly(spare);
    return true;
  }
  return false;
}

/** Opens `path` with `flags`, writes `text` and closes: true if all of it was written; a file it could not fill is removed. */
function writeWhole(path: string, flags: 'w' | 'wx', mode: number, text: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, flags, mode);
  } catch {
    return false;
  }
  let written = false;
  try {
    written = writeSync(fd, text, 0) === Buffer.byteLength(text);
  } catch {
    written = false;
  } finally {
    closeQuietly(fd);
  }
  if (!written) removeQuietly(path);
  return written;
}

function openExclusive(path: string, mode: number): Promise<number> {
  return new Promise((resolve, reject) => openCallback(path, 'wx', mode, (error, fd) => (error ? reject(error) : resolve(fd))));
}

function writeAll(fd: number, text: string): Promise<void> {
  const data = Buffer.from(text);
  return new Promise((resolve, reject) =>
    write(fd, data, 0, data.length, 0, (error, written) => {
      if (error) reject(error);
      else if (written !== data.length) reject(Object.assign(new Error('short write of the lock record'), { code: 'ENOSPC' }));
      else resolve();
    }),
  );
}

/** `<user>/Maildir/<lock>`: aliases of one lock path agree on these. */
function lastComponents(path: string): string {
  return path.split(sep).slice(-3).join(sep);
}

function describe(record: { pid: number; host: string }): string {
  return `pid ${record.pid} on ${record.host}`;
}

function parseRecord(text: string): LockRecord | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const { pid, host, start } = value as Record<string, unknown>;
  if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 0) return null;
  if (typeof host !== 'string') return null;
  return { pid, host, start: typeof start === 'number' ? start : null };
}
