import { close as closeFd, closeSync, open as openFdCallback, openSync, read as readFdCallback, readFile as readFileCallback, readFileSync, readSync } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { MessageGoneError } from '@mailnode/message-store';
import type { CommitResult, MailboxSession, MessageContent, StoredMessage } from '@mailnode/message-store';
import { regularFileNames } from './directory-entries.ts';
import { parseMaildirName } from './filename.ts';
import { fsyncDirectory } from './fsync.ts';
import { isMissing, unavailable } from './io-error.ts';
import type { MailboxLock } from './lock.ts';
import type { MaildirPaths } from './user-path.ts';
import type { ListedMessage } from './scan.ts';
import { FileMessageReader } from './message-reader.ts';
import type { SyncIoGate } from './sync-io-gate.ts';

/** Unlinks in flight at once during commit: enough to overlap I/O without flooding the thread pool. */
const UNLINK_CONCURRENCY = 16;
/**
 * Small messages read ahead once a client reads in order (a pipelined RETR run): the file I/O
 * of the next messages overlaps the sending of this one. Bounded: at most this many buffers.
 */
const READ_AHEAD = 16;

export interface SessionOptions {
  readonly smallMessageBytes: number;
  /** Shared by the store's sessions: whether small reads may be synchronous right now. */
  readonly syncIo: SyncIoGate;
}

/** One POP3 session's view of a locked mailbox; numbering is fixed at open. */
export class MaildirMailboxSession implements MailboxSession {
  readonly messages: readonly StoredMessage[];
  private closed = false;
  private readonly ahead = new Map<number, Promise<Buffer | Error>>();
  private lastRead = -2;

  constructor(
    readonly user: string,
    private readonly paths: MaildirPaths,
    private readonly listed: readonly ListedMessage[],
    private readonly lock: MailboxLock,
    private readonly options: SessionOptions,
  ) {
    this.messages = Object.freeze(
      listed.map((m) => Object.freeze({ uidl: m.uidl, size: m.size, wireSize: m.wireSize })),
    );
  }

  async read(index: number): Promise<MessageContent> {
    this.assertOpen();
    const entry = this.entry(index);
    if (entry.size <= this.options.smallMessageBytes && this.options.syncIo.open) {
      const data = this.readSync(entry);
      if (data) {
        this.lastRead = index;
        return { kind: 'buffer', data };
      }
    }
    const early = this.ahead.get(index);
    this.ahead.delete(index);
    if (index === this.lastRead + 1) this.readAhead(index);
    this.lastRead = index;
    if (early) {
      const data = await early;
      if (!(data instanceof Error)) return { kind: 'buffer', data };
      // A failed read-ahead is retried in the normal way, which reports the error properly.
    }
    if (entry.size <= this.options.smallMessageBytes) return { kind: 'buffer', data: await this.readBuffer(entry) };
    const handle = await this.openMessage(entry);
    return { kind: 'reader', reader: new FileMessageReader(handle, this.options.syncIo, (error) => unavailable(`cannot read message ${entry.uidl}`, error)) };
  }

  readNow(index: number): Buffer | undefined {
    const entry = this.listed[index];
    if (this.closed || entry === undefined || entry.size > this.options.smallMessageBytes || !this.options.syncIo.open) return undefined;
    let data: Buffer | undefined;
    try {
      data = this.readSync(entry);
    } catch {
      return undefined;
    }
    if (data) this.lastRead = index;
    return data;
  }

  /**
   * The synchronous read of a small message (see SyncIoGate); undefined when the file is not
   * where the listing saw it, which the asynchronous path sorts out.
   */
  private readSync(entry: ListedMessage): Buffer | undefined {
    return this.options.syncIo.timed(() => {
      let fd: number;
      try {
        // Concatenated, not join()ed: both parts are clean, and this runs once per RETR.
        fd = openSync(`${this.paths.cur}/${entry.name}`, 'r');
      } catch (error) {
        if (isMissing(error)) return undefined;
        throw unavailable(`cannot read message ${entry.uidl}`, error);
      }
      try {
        const buffer = Buffer.allocUnsafe(entry.size + 1);
        const bytesRead = readSync(fd, buffer, 0, buffer.length, 0);
        return bytesRead === entry.size ? buffer.subarray(0, bytesRead) : readFileSync(fd);
      } catch (error) {
        throw unavailable(`cannot read message ${entry.uidl}`, error);
      } finally {
        closeSync(fd);
      }
    });
  }

  private readAhead(index: number): void {
    if (this.options.syncIo.open) return;
    for (let next = index + 1; next <= index + READ_AHEAD && next < this.listed.length; next++) {
      const entry = this.listed[next]!;
      if (this.ahead.has(next) || entry.size > this.options.smallMessageBytes) continue;
      this.ahead.set(next, this.readBuffer(entry).catch((error: unknown) => (error instanceof Error ? error : new Error(String(error)))));
    }
  }

  /**
   * Small messages take the callback fs API: open + one read, close off the critical path. The
   * FileHandle API costs several times more main-thread time per file, and RETR of small
   * messages is the hot path of a POP3 server.
   */
  private async readBuffer(entry: ListedMessage): Promise<Buffer> {
    let fd: number;
    try {
      fd = await openFd(join(this.paths.cur, entry.name));
    } catch (error) {
      if (!isMissing(error)) throw unavailable(`cannot read message ${entry.uidl}`, error);
      // Renamed by another MUA (flag change), or gone: the slow path sorts it out.
      const handle = await this.openMessage(entry);
      try {
        return await readSmall(handle, entry.size);
      } finally {
        await handle.close().catch(() => undefined);
      }
    }
    try {
      return await readFd(fd, entry.size);
    } catch (error) {
      throw unavailable(`cannot read message ${entry.uidl}`, error);
    } finally {
      closeFd(fd, () => undefined);
    }
  }

  async commit(deleted: ReadonlySet<number>): Promise<CommitResult> {
    this.assertOpen();
    const entries = [...deleted].map((index) => this.entry(index));
    this.closed = true;
    this.ahead.clear();
    try {
      let removed = 0;
      let missing = 0;
      // One listing of cur/ serves every message found renamed during this commit.
      let listing: Promise<string[]> | undefined;
      const list = () => (listing ??= this.listCur());
      for (let i = 0; i < entries.length; i += UNLINK_CONCURRENCY) {
        const outcomes = await Promise.all(entries.slice(i, i + UNLINK_CONCURRENCY).map((e) => this.remove(e, list)));
        for (const ok of outcomes) ok ? removed++ : missing++;
      }
      // The deletions are only final once cur/ itself is on disk.
      if (removed > 0) await fsyncDirectory(this.paths.cur);
      return { deleted: removed, missing };
    } catch (error) {
      throw unavailable(`cannot update mailbox of ${this.user}`, error);
    } finally {
      await this.lock.release();
    }
  }

  async release(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.ahead.clear();
    await this.lock.release();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`mailbox session of ${this.user} is closed`);
  }

  private entry(index: number): ListedMessage {
    const entry = Number.isInteger(index) ? this.listed[index] : undefined;
    if (!entry) throw new RangeError(`no message with index ${index} in mailbox of ${this.user}`);
    return entry;
  }

  /** Opens a message file, following a rename by another MUA (flag change) via its unique part. */
  private async openMessage(entry: ListedMessage): Promise<FileHandle> {
    try {
      try {
        return await open(join(this.paths.cur, entry.name), 'r');
      } catch (error) {
        if (!isMissing(error) || !(await this.refind(entry, () => this.listCur()))) throw error;
        return await open(join(this.paths.cur, entry.name), 'r');
      }
    } catch (error) {
      if (isMissing(error)) throw new MessageGoneError(entry.uidl);
      throw unavailable(`cannot read message ${entry.uidl}`, error);
    }
  }

  /** Unlinks a message; false when it was already gone. */
  private async remove(entry: ListedMessage, list: () => Promise<string[]>): Promise<boolean> {
    try {
      await unlink(join(this.paths.cur, entry.name));
      return true;
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
    if (!(await this.refind(entry, list))) return false;
    try {
      await unlink(join(this.paths.cur, entry.name));
      return true;
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
  }

  /** Looks the message up again in cur/ by unique part; updates its name when found. */
  private async refind(entry: ListedMessage, list: () => Promise<string[]>): Promise<boolean> {
    const name = (await list()).find((n) => n !== entry.name && parseMaildirName(n).unique === entry.unique);
    if (name === undefined) return false;
    entry.name = name;
    return true;
  }

  private async listCur(): Promise<string[]> {
    try {
      return await regularFileNames(this.paths.cur);
    } catch (error) {
      if (isMissing(error)) return [];
      throw error;
    }
  }
}

function openFd(path: string): Promise<number> {
  return new Promise((resolve, reject) => openFdCallback(path, 'r', (error, fd) => (error ? reject(error) : resolve(fd))));
}

/** One read of the declared size plus one byte; a file that does not match is read whole. */
function readFd(fd: number, declared: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(declared + 1);
  return new Promise((resolve, reject) => {
    readFdCallback(fd, buffer, 0, buffer.length, 0, (error, bytesRead) => {
      if (error) return reject(error);
      if (bytesRead === declared) return resolve(buffer.subarray(0, declared));
      readFileCallback(fd, (wholeError, data) => (wholeError ? reject(wholeError) : resolve(data)));
    });
  });
}

/**
 * Reads a small message whose size the name declared, in one read. If the file does not
 * match the declared size (a foreign name that lies), reads it whole instead.
 */
async function readSmall(handle: FileHandle, declared: number): Promise<Buffer> {
  // One byte more than declared: a single read both fetches the message and shows it ends there.
  const buffer = Buffer.allocUnsafe(declared + 1);
  let filled = 0;
  do {
    const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  } while (filled < declared);
  if (filled === declared) return buffer.subarray(0, filled);
  return await handle.readFile();
}
