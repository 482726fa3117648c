/**
 * How a wave of staged files is made durable before any of them is reported staged: an fsync
 * of each file, or one syncfs of their file system (see FilesystemSync), which falls back to
 * the fsyncs when syncfs cannot be used.
 */
import { dirname } from 'node:path';
import { FilesystemSyncUnavailable, type FilesystemSync } from './filesystem-sync.ts';
import { fsyncDescriptor } from './fsync.ts';

export interface WrittenFile {
  readonly fd: number;
  readonly path: string;
}

/** One outcome per file, in order: undefined when it is durable, else why not. */
export type WaveSync = (files: readonly WrittenFile[]) => Promise<readonly unknown[]>;

/** fsync(2) of every file at once in the thread pool; a failure fails only its own file. */
export function fsyncEach(fsync: (fd: number) => Promise<void> = fsyncDescriptor): WaveSync {
  return (files) => Promise.all(files.map((file) => fsync(file.fd).then(() => undefined, (error: unknown) => error)));
}

/**
 * One syncfs(2) per file system for the whole wave. A failed syncfs fails every file of the
 * wave: which of them reached the disk is unknown. Without a usable helper, `fallback`.
 */
export function syncfsWave(filesystem: FilesystemSync, fallback: WaveSync = fsyncEach()): WaveSync {
  return async (files) => {
    if (!filesystem.usable) return fallback(files);
    try {
      await filesystem.sync(files.map((file) => dirname(file.path)));
      return files.map(() => undefined);
    } catch (error) {
      if (error instanceof FilesystemSyncUnavailable) return fallback(files);
      return files.map(() => error);
    }
  };
}
