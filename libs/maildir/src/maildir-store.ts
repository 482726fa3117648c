import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { regularFileNames } from './directory-entries.ts';
import { measureFile } from './measure.ts';
import { parseMaildirName } from './filename.ts';
import { MailboxLockedError } from '@mailnode/message-store';
import type { MailboxSession, MessageStore, StagedMessage, StageOptions } from '@mailnode/message-store';
import { discardFiles, publishFiles, stageFile } from './deliver.ts';
import type { StageContext, StagedFile } from './deliver.ts';
import { encodeHost } from './filename.ts';
import { isMissing, unavailable } from './io-error.ts';
import { MailboxLock } from './lock.ts';
import { MaildirMailboxSession } from './mailbox-session.ts';
import { resolveOptions } from './options.ts';
import type { MaildirStoreOptions, ResolvedOptions } from './options.ts';
import { scanMailbox } from './scan.ts';
import { StagingWaves } from './staging-waves.ts';
import { sharedFilesystemSync } from './filesystem-sync.ts';
import { fsyncEach, syncfsWave } from './wave-sync.ts';
import { syncIoGates, type SyncIoGates } from './sync-io-gate.ts';
import type { ListedMessage } from './scan.ts';
import { TmpSweeper } from './tmp-cleanup.ts';
import { uidlFor } from './uidl.ts';
import { maildirPaths } from './user-path.ts';
import type { MaildirPaths } from './user-path.ts';

/** The MessageStore contract on Maildir: `<root>/<user>/Maildir/{tmp,new,cur}`. */
export class MaildirStore implements MessageStore {
  private readonly options: ResolvedOptions;
  private readonly stageContext: StageContext;
  private readonly sweeper: TmpSweeper;
  private readonly syncIo: SyncIoGates;
  /** Staged messages this store handed out: the only objects publish() and discard() accept. */
  private readonly staged = new WeakMap<StagedMessage, StagedFile>();

  constructor(options: MaildirStoreOptions) {
    this.options = resolveOptions(options);
    this.sweeper = new TmpSweeper(this.options.log);
    this.syncIo = syncIoGates(this.options.syncIo);
    this.stageContext = {
      encodedHost: encodeHost(this.options.hostname),
      fileMode: this.options.fileMode,
      createMaildir: (paths) => this.createMaildir(paths),
      syncIo: this.syncIo.metadata,
      waves: new StagingWaves(this.syncIo.metadata, this.options.syncMethod === 'syncfs' ? syncfsWave(sharedFilesystemSync(this.options.log)) : fsyncEach()),
    };
  }

  async openMailbox(user: string): Promise<MailboxSession> {
    const paths = maildirPaths(this.options.root, user);
    let lock: MailboxLock;
    try {
      lock = await MailboxLock.acquire(user, paths.lock, {
        hostname: this.options.hostname,
        foreignLockStaleMs: this.options.foreignLockStaleMs,
        maxSpares: this.options.maxSpareLocks,
        fileMode: this.options.fileMode,
        log: this.options.log,
        createMaildir: () => this.createMaildir(paths),
        gate: this.syncIo.metadata,
      });
    } catch (error) {
      if (error instanceof MailboxLockedError) throw error;
      throw unavailable(`cannot open mailbox of ${user}`, error);
    }
    try {
      const [listed] = await Promise.all([this.list(paths), lock.recorded]);
      await this.sweeper.maybeSweep(paths.tmp);
      return new MaildirMailboxSession(user, paths, listed, lock, { smallMessageBytes: this.options.smallMessageBytes, syncIo: this.syncIo.reads });
    } catch (error) {
      await lock.release();
      throw unavailable(`cannot open mailbox of ${user}`, error);
    }
  }

  async stage(
    user: string,
    source: AsyncIterable<Uint8Array> | Uint8Array,
    options?: StageOptions,
  ): Promise<StagedMessage> {
    const paths = maildirPaths(this.options.root, user);
    const file = await stageFile(this.stageContext, user, paths, source, options?.crlf ?? true);
    const message: StagedMessage = Object.freeze({
      user,
      id: file.unique,
      uidl: uidlOf(file),
      size: file.size,
      wireSize: file.wireSize,
    });
    this.staged.set(message, file);
    return message;
  }

  async publish(staged: readonly StagedMessage[]): Promise<void> {
    const files = this.own(staged);
    for (const file of files) {
      if (file.state !== 'staged') throw new Error(`staged message ${uidlOf(file)} is already ${file.state}`);
    }
    await publishFiles(files, this.stageContext, this.options.log);
  }

  async discard(staged: readonly StagedMessage[]): Promise<void> {
    await discardFiles(this.own(staged), this.options.log);
  }

  async deliver(
    user: string,
    source: AsyncIterable<Uint8Array> | Uint8Array,
    options?: StageOptions,
  ): Promise<StagedMessage> {
    const message = await this.stage(user, source, options);
    try {
      await this.publish([message]);
    } catch (error) {
      await this.discard([message]);
      throw error;
    }
    return message;
  }

  async recover(user: string, id: string): Promise<'delivered' | 'not-delivered'> {
    const paths = maildirPaths(this.options.root, user);
    if (!/^[^/\\\0]+$/.test(id) || id.startsWith('.')) return 'not-delivered';
    try {
      for (const dir of [paths.new, paths.cur]) {
        const names = await regularFileNames(dir).catch((error: unknown) => (isMissing(error) ? [] : Promise.reject(error)));
        if (names.some((name) => parseMaildirName(name).unique === id)) return 'delivered';
      }
      const tmpPath = join(paths.tmp, id);
      let sizes;
      try {
        sizes = await measureFile(tmpPath);
      } catch (error) {
        if (isMissing(error)) return 'not-delivered';
        throw error;
      }
      // Staged (fsynced) but never linked: finish the publish now.
      const file: StagedFile = { user, paths, unique: id, tmpPath, size: sizes.size, wireSize: sizes.wireSize, state: 'staged' };
      await publishFiles([file], this.stageContext, this.options.log);
      return 'delivered';
    } catch (error) {
      throw unavailable(`cannot recover staged message ${id} of ${user}`, error);
    }
  }

  /** Internal records of staged messages; rejects objects this store did not create and duplicates. */
  private own(staged: readonly StagedMessage[]): StagedFile[] {
    const files: StagedFile[] = [];
    for (const message of staged) {
      const file = this.staged.get(message);
      if (!file) throw new TypeError('not a staged message of this MaildirStore');
      if (files.includes(file)) throw new TypeError(`staged message ${message.uidl} given twice`);
      files.push(file);
    }
    return files;
  }

  /** Lists the mailbox; creates new/ or cur/ only when a listing found them missing. */
  private async list(paths: MaildirPaths): Promise<ListedMessage[]> {
    try {
      return await scanMailbox(paths, this.options.log, this.syncIo.reads);
    } catch (error) {
      if (!isMissing(error)) throw error;
      await this.createMaildir(paths);
      return await scanMailbox(paths, this.options.log, this.syncIo.reads);
    }
  }

  private async createMaildir(paths: MaildirPaths): Promise<void> {
    const mode = this.options.dirMode;
    await mkdir(paths.maildir, { recursive: true, mode });
    await Promise.all([
      mkdir(paths.tmp, { recursive: true, mode }),
      mkdir(paths.new, { recursive: true, mode }),
      mkdir(paths.cur, { recursive: true, mode }),
    ]);
  }
}

function uidlOf(file: StagedFile): string {
  return uidlFor(file.unique);
}
