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

const STREAM_CHUNK_BYTES = 64 * 1024;
/** Unlinks in flight at once during commit: enough to overlap I/O without flooding the thread pool. */
const UNLINK_CONCURRENCY = 16;

export interface SessionOptions {
  readonly smallMessageBytes: number;
}

/** One POP3 session's view of a locked mailbox; numbering is fixed at open. */
export class MaildirMailboxSession implements MailboxSession {
  readonly messages: readonly StoredMessage[];
  private closed = false;

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
    const handle = await this.openMessage(entry);
    if (entry.size <= this.options.smallMessageBytes) {
      try {
        return { kind: 'buffer', data: await readSmall(handle, entry.size) };
      } catch (error) {
        throw unavailable(`cannot read message ${entry.uidl}`, error);
      } finally {
        await handle.close().catch(() => undefined);
      }
    }
    return { kind: 'stream', stream: handle.createReadStream({ highWaterMark: STREAM_CHUNK_BYTES }) };
  }

  async commit(deleted: ReadonlySet<number>): Promise<CommitResult> {
    this.assertOpen();
    const entries = [...deleted].map((index) => this.entry(index));
    this.closed = true;
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
