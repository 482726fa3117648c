import { linkSync, renameSync, unlinkSync } from 'node:fs';
import { link, open, rename, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { CrlfToLf, SizeCounter, crlfToLf } from './crlf.ts';
import { limitCreates } from './create-limit.ts';
import { BatchedWriter, writeAll } from './file-writer.ts';
import { newFileName, newUniqueName } from './filename.ts';
import { fsyncDirectory } from './fsync.ts';
import { errorCode, unavailable } from './io-error.ts';
import type { MaildirLogger } from './options.ts';
import { SMALL_FILE_BYTES, type StagingWaves } from './staging-waves.ts';
import type { SyncIoGate } from './sync-io-gate.ts';
import type { MaildirPaths } from './user-path.ts';

/** A message written to tmp/: everything publish() and discard() need, kept out of callers' reach. */
export interface StagedFile {
  readonly user: string;
  readonly paths: MaildirPaths;
  readonly unique: string;
  readonly tmpPath: string;
  readonly size: number;
  readonly wireSize: number;
  /** 'publishing' keeps a message from being published or discarded twice at once. */
  state: 'staged' | 'publishing' | 'published' | 'discarded';
}

export interface StageContext {
  readonly encodedHost: string;
  readonly fileMode: number;
  /** Creates the Maildir's directories (called only when a write found one missing). */
  readonly createMaildir: (paths: MaildirPaths) => Promise<void>;
  /**
   * While open, small messages are created, written and closed and published files linked and
   * unlinked on the main thread; only fsyncs wait in the thread pool. The store's metadata gate:
   * creating, linking and unlinking wait for the journal, like lock files.
   */
  readonly syncIo: SyncIoGate;
  /** Stages small messages in waves on the main thread while `syncIo` is open. */
  readonly waves: StagingWaves;
}

/**
 * Writes a message into tmp/ under a fresh unique name, converting CRLF→LF on the fly and
 * counting both sizes, then fsyncs it. Any failure removes the partial file.
 */
export async function stageFile(
  ctx: StageContext,
  user: string,
  paths: MaildirPaths,
  source: AsyncIterable<Uint8Array> | Uint8Array,
  crlf: boolean,
): Promise<StagedFile> {
  const unique = newUniqueName(ctx.encodedHost);
  const tmpPath = join(paths.tmp, unique);
  const gate = ctx.syncIo;
  if (source instanceof Uint8Array && source.length <= SMALL_FILE_BYTES && gate.open) {
    const data = crlf ? crlfToLf(source) : source;
    const counter = new SizeCounter();
    counter.add(data);
    try {
      await ctx.waves.stage(tmpPath, data, ctx.fileMode, () => ctx.createMaildir(paths));
    } catch (error) {
      throw unavailable(`cannot store message for ${user}`, error);
    }
    return { user, paths, unique, tmpPath, size: counter.size, wireSize: counter.wireSize, state: 'staged' };
  }
  let handle: FileHandle | undefined;
  try {
    handle = await createExclusive(ctx, paths, tmpPath);
    const counter = new SizeCounter();
    if (source instanceof Uint8Array) {
      const data = crlf ? crlfToLf(source) : source;
      counter.add(data);
      await writeAll(handle, data);
    } else {
      await writeStream(handle, source, crlf ? new CrlfToLf() : undefined, counter);
    }
    await handle.sync();
    const closing = handle;
    handle = undefined;
    await closing.close();
    return { user, paths, unique, tmpPath, size: counter.size, wireSize: counter.wireSize, state: 'staged' };
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await unlink(tmpPath).catch(() => undefined);
    throw unavailable(`cannot store message for ${user}`, error);
  }
}

async function createExclusive(ctx: StageContext, paths: MaildirPaths, tmpPath: string): Promise<FileHandle> {
  const create = () => limitCreates(paths.tmp, () => open(tmpPath, 'wx', ctx.fileMode));
  try {
    return await create();
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') throw error;
    await ctx.createMaildir(paths);
    return await create();
  }
}

async function writeStream(
  handle: FileHandle,
  source: AsyncIterable<Uint8Array>,
  conv: CrlfToLf | undefined,
  counter: SizeCounter,
): Promise<void> {
  const writer = new BatchedWriter(handle);
  for await (const chunk of source) {
    const data = conv ? conv.push(chunk) : chunk;
    counter.add(data);
    await writer.write(data);
  }
  if (conv) {
    const tail = conv.end();
    counter.add(tail);
    await writer.write(tail);
  }
  await writer.flush();
}

/**
 * Links each staged file into new/ under its final name, drops the tmp/ name, then fsyncs
 * every touched new/ directory once (group commit). link() never replaces an existing name
 * and the file is complete before it appears, so a crash leaves nothing partial in new/.
 */
export async function publishFiles(files: readonly StagedFile[], ctx: StageContext, log: MaildirLogger): Promise<void> {
  const results = await Promise.allSettled(files.map((file) => publishOne(file, ctx, log)));
  const dirs = new Set<string>();
  files.forEach((file, i) => {
    if (results[i]?.status === 'fulfilled') dirs.add(file.paths.new);
  });
  const syncs = await Promise.allSettled([...dirs].map((dir) => fsyncDirectory(dir, ctx.syncIo)));
  const failure = [...results, ...syncs].find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) {
    const user = files[0]?.user ?? '';
    throw unavailable(`cannot publish message for ${user}`, failure.reason);
  }
}

async function publishOne(file: StagedFile, ctx: StageContext, log: MaildirLogger): Promise<void> {
  const target = join(file.paths.new, newFileName(file.unique, file.size, file.wireSize));
  let moved: boolean;
  file.state = 'publishing';
  try {
    moved = await linkWithRetry(file, ctx, target);
  } catch (error) {
    file.state = 'staged';
    throw error;
  }
  file.state = 'published';
  if (moved) return;
  try {
    const gate = ctx.syncIo;
    if (gate.open) gate.timed(() => unlinkSync(file.tmpPath));
    else await unlink(file.tmpPath);
  } catch (error) {
    // The message is already safe in new/; a leftover tmp/ link is removed by the 36-hour sweep.
    if (errorCode(error) !== 'ENOENT') log.warn({ err: error, path: file.tmpPath }, 'cannot remove tmp file after publish');
  }
}

async function linkWithRetry(file: StagedFile, ctx: StageContext, target: string): Promise<boolean> {
  try {
    return await linkOrRename(file.tmpPath, target, ctx.syncIo);
  } catch (error) {
    // new/ may have been removed by hand; recreate it and try once more.
    if (errorCode(error) !== 'ENOENT') throw error;
    await ctx.createMaildir(file.paths);
    return await linkOrRename(file.tmpPath, target, ctx.syncIo);
  }
}

/** link() as the spec asks; rename() on file systems without hard links. Returns true when renamed. */
async function linkOrRename(from: string, to: string, gate: SyncIoGate): Promise<boolean> {
  const sync = gate.open ? gate : undefined;
  try {
    if (sync) sync.timed(() => linkSync(from, to));
    else await link(from, to);
    return false;
  } catch (error) {
    const code = errorCode(error);
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw error;
    if (sync) sync.timed(() => renameSync(from, to));
    else await rename(from, to);
    return true;
  }
}

/** Removes tmp/ files of messages that will not be published. Failures only leave invisible tmp/ files. */
export async function discardFiles(files: readonly StagedFile[], log: MaildirLogger): Promise<void> {
  await Promise.all(
    files.map(async (file) => {
      if (file.state !== 'staged') return;
      file.state = 'discarded';
      try {
        await unlink(file.tmpPath);
      } catch (error) {
        if (errorCode(error) !== 'ENOENT') log.warn({ err: error, path: file.tmpPath }, 'cannot remove discarded tmp file');
      }
    }),
  );
}
