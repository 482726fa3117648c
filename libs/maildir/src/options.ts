import { hostname as osHostname } from 'node:os';
import { resolve } from 'node:path';

/** Minimal logger shape (pino-compatible) so the store does not depend on a logging library. */
export interface MaildirLogger {
  warn(obj: object, msg: string): void;
}

export type SyncMethod = 'syncfs' | 'fsync';

export interface MaildirStoreOptions {
  /** Directory holding one `<user>/Maildir` per user. */
  readonly root: string;
  /** Host part of new file names and of lock files; must be unique per machine. Default os.hostname(). */
  readonly hostname?: string;
  /** Messages up to this many bytes are read into one Buffer, larger ones streamed. Default 65536. */
  readonly smallMessageBytes?: number;
  /**
   * Read small messages synchronously while such reads are fast (page cache), which saves the
   * thread-pool hand-offs that dominate a RETR of a small message; see SyncIoGate. Default true.
   */
  readonly syncIo?: boolean;
  /**
   * How staged messages are made durable: 'syncfs' (one syncfs(2) per wave of staged messages,
   * one disk flush for many files; falls back to 'fsync' where it cannot run) or 'fsync' (one
   * fsync(2) per file). Default 'syncfs'.
   */
  readonly syncMethod?: SyncMethod;
  /** A lock written by another host is stale when its mtime is older than this. Default 10 minutes. */
  readonly foreignLockStaleMs?: number;
  /**
   * Spare lock files kept, one per mailbox opened (see lock.ts); past that the oldest not in
   * use is removed. Default 10 000.
   */
  readonly maxSpareLocks?: number;
  /** Mode of message and lock files. Default 0o600. */
  readonly fileMode?: number;
  /** Mode of created directories. Default 0o700. */
  readonly dirMode?: number;
  readonly log?: MaildirLogger;
}

export interface ResolvedOptions {
  readonly root: string;
  readonly hostname: string;
  readonly smallMessageBytes: number;
  readonly syncIo: boolean;
  readonly syncMethod: SyncMethod;
  readonly foreignLockStaleMs: number;
  readonly maxSpareLocks: number;
  readonly fileMode: number;
  readonly dirMode: number;
  readonly log: MaildirLogger;
}

const silent: MaildirLogger = { warn() {} };

export function resolveOptions(options: MaildirStoreOptions): ResolvedOptions {
  if (!options.root) throw new Error('MaildirStore: root is required');
  const hostname = options.hostname ?? osHostname();
  if (!hostname) throw new Error('MaildirStore: hostname must not be empty');
  return {
    root: resolve(options.root),
    hostname,
    smallMessageBytes: nonNegative('smallMessageBytes', options.smallMessageBytes ?? 65_536),
    syncIo: options.syncIo ?? true,
    syncMethod: options.syncMethod ?? 'syncfs',
    foreignLockStaleMs: positive('foreignLockStaleMs', options.foreignLockStaleMs ?? 10 * 60_000),
    maxSpareLocks: positive('maxSpareLocks', options.maxSpareLocks ?? 10_000),
    fileMode: options.fileMode ?? 0o600,
    dirMode: options.dirMode ?? 0o700,
    log: options.log ?? silent,
  };
}

function nonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new Error(`MaildirStore: ${name} must be a non-negative number`);
  return value;
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new Error(`MaildirStore: ${name} must be a positive number`);
  return value;
}
