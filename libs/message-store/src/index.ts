/**
 * The MessageStore contract: what the POP3 server and the retriever need from a mail store.
 * The Maildir library implements it; apps depend only on this file.
 */
export const MESSAGE_STORE = Symbol('MessageStore');

/** One message as listed for a POP3 session. Sizes come from the file name where possible. */
export interface StoredMessage {
  /** Stable unique id (RFC 1939 UIDL): 1–70 chars in 0x21–0x7E, never reused, survives new/→cur/ and flag changes. */
  readonly uidl: string;
  /** Octets on disk (LF line endings). */
  readonly size: number;
  /** Octets as sent on the wire with CRLF line endings (what LIST and STAT report). */
  readonly wireSize: number;
}

/**
 * A message body as handed to the server: small ones in one buffer, large ones through a reader
 * that fills the caller's buffer, so a large RETR reuses a few buffers instead of allocating per chunk.
 */
export type MessageContent = { kind: 'buffer'; data: Buffer } | { kind: 'reader'; reader: MessageReader };

/** Sequential reads of one stored message. */
export interface MessageReader {
  /** Fills `into` from where the last read ended; resolves with the bytes read, 0 at the end. */
  read(into: Buffer): Promise<number>;
  /** Releases the file; idempotent. Call it once done, also after an error. */
  close(): void;
}

/**
 * A mailbox opened for one POP3 session, under an exclusive cross-process lock.
 * Message numbers (index + 1) never change while it is open.
 */
export interface MailboxSession {
  readonly user: string;
  readonly messages: readonly StoredMessage[];
  /** Read message `index` (0-based). Throws MessageGoneError if another program removed it. */
  read(index: number): Promise<MessageContent>;
  /**
   * Message `index` read at once, when that costs next to nothing (a small file on a file
   * system answering fast); undefined when not, or on any trouble: read() then reads it and
   * reports what went wrong. A POP3 server answers a lock-step RETR within its turn this way.
   */
  readNow(index: number): Buffer | undefined;
  /** Remove the given messages (0-based indexes) as one commit, then release the lock. */
  commit(deleted: ReadonlySet<number>): Promise<CommitResult>;
  /** Release the lock without deleting anything (dropped connection, shutdown). Idempotent. */
  release(): Promise<void>;
}

export interface CommitResult {
  readonly deleted: number;
  /** Messages that were already gone (removed by other software): not an error. */
  readonly missing: number;
}

/** A message written and fsynced in tmp/, not yet visible. */
export interface StagedMessage {
  readonly user: string;
  /** The store's own name for it (Maildir: the unique part), for recover() after a crash. */
  readonly id: string;
  readonly uidl: string;
  readonly size: number;
  readonly wireSize: number;
}

export interface StageOptions {
  /** Input uses CRLF line endings (POP3 wire data): stored with LF as Maildir expects. Default true. */
  readonly crlf?: boolean;
}

export interface MessageStore {
  /** Lock and list a user's mailbox (created if absent). Throws MailboxLockedError if in use. */
  openMailbox(user: string): Promise<MailboxSession>;
  /** Write a message into tmp/ and fsync it; invisible until published. */
  stage(user: string, source: AsyncIterable<Uint8Array> | Uint8Array, options?: StageOptions): Promise<StagedMessage>;
  /**
   * Make staged messages visible: link into new/, then one fsync per touched new/ directory
   * (group commit). When it resolves, every message is durable.
   */
  publish(staged: readonly StagedMessage[]): Promise<void>;
  /** Drop staged messages that will not be published (failed download). */
  discard(staged: readonly StagedMessage[]): Promise<void>;
  /**
   * After a crash between stage and publish: 'delivered' if message `id` is visible (or was
   * still in tmp/ and is published now), else 'not-delivered'.
   */
  recover(user: string, id: string): Promise<'delivered' | 'not-delivered'>;
  /** stage + publish of one message. */
  deliver(user: string, source: AsyncIterable<Uint8Array> | Uint8Array, options?: StageOptions): Promise<StagedMessage>;
}

export class MailboxLockedError extends Error {
  override readonly name = 'MailboxLockedError';
  constructor(readonly user: string, readonly holder?: string) {
    super(`mailbox of ${user} is in use${holder ? ` by ${holder}` : ''}`);
  }
}

export class MessageGoneError extends Error {
  override readonly name = 'MessageGoneError';
  constructor(readonly uidl: string) {
    super(`message ${uidl} was removed by another program`);
  }
}

/** The store cannot do its work (I/O error, disk full, permissions): a temporary failure for clients. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
