/**
 * How staging reaches the disk: small messages in waves on the main thread while the sync-I/O
 * gate is open (only the fsyncs in the thread pool), everything through the thread pool when it
 * is closed, with file creations limited per directory. Both paths must store the same bytes.
 */
import { readdirSync } from 'node:fs';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createsIn, limitCreates } from '../src/create-limit.ts';
import { publishFiles, stageFile, type StageContext } from '../src/deliver.ts';
import { fsyncDirectory } from '../src/fsync.ts';
import { StagingWaves } from '../src/staging-waves.ts';
import { fsyncEach } from '../src/wave-sync.ts';
import { SLOW_SYNC_METADATA_MS, SyncIoGate } from '../src/sync-io-gate.ts';
import { maildirPaths } from '../src/user-path.ts';
import { makeTempRoot, removeTempRoot } from './helpers.ts';

let root: string;

beforeEach(async () => {
  root = await makeTempRoot();
});

afterEach(async () => {
  await removeTempRoot(root);
});

const silent = { warn() {} };

function context(gate: SyncIoGate): StageContext {
  return {
    encodedHost: 'mx.test',
    fileMode: 0o600,
    createMaildir: async (paths) => {
      for (const dir of [paths.tmp, paths.new, paths.cur]) await mkdir(dir, { recursive: true });
    },
    syncIo: gate,
    waves: new StagingWaves(gate),
  };
}

describe('StagingWaves', () => {
  const open = () => new SyncIoGate(true, SLOW_SYNC_METADATA_MS);
  const none = async () => {};

  it('creates the file with its mode and contents', async () => {
    const path = join(root, 'one');
    await new StagingWaves(open()).stage(path, Buffer.from('hello\n'), 0o640, none);
    expect(await readFile(path, 'latin1')).toBe('hello\n');
    expect((await stat(path)).mode & 0o777).toBe(0o640 & ~process.umask());
  });

  it('creates a missing directory once through whenMissing, then writes', async () => {
    const path = join(root, 'missing', 'two');
    let calls = 0;
    await new StagingWaves(open()).stage(path, Buffer.from('x'), 0o600, async () => {
      calls++;
      await mkdir(join(root, 'missing'));
    });
    expect(calls).toBe(1);
    expect(await readFile(path, 'latin1')).toBe('x');
  });

  it('never replaces an existing file (EEXIST), which keeps its contents', async () => {
    const path = join(root, 'taken');
    await writeFile(path, 'original');
    await expect(new StagingWaves(open()).stage(path, Buffer.from('new'), 0o600, none)).rejects.toMatchObject({ code: 'EEXIST' });
    expect(await readFile(path, 'latin1')).toBe('original');
  });

  it('creates every file of a wave before the first fsync, and stages what came meanwhile in the next wave', async () => {
    const waves: string[][] = [];
    let current: string[] | undefined;
    const release: Array<() => void> = [];
    const fsync = async (): Promise<void> => {
      if (!current) waves.push((current = readdirSync(root).sort()));
      await new Promise<void>((resolve) => release.push(resolve));
    };
    const stager = new StagingWaves(open(), fsyncEach(fsync));
    const first = ['a', 'b', 'c'].map((name) => stager.stage(join(root, name), Buffer.from(name), 0o600, none));
    await until(() => release.length === 3);
    // The first wave's fsyncs are pending: later messages wait, not even created yet.
    const second = ['d', 'e'].map((name) => stager.stage(join(root, name), Buffer.from(name), 0o600, none));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(await readdir(root)).toHaveLength(3);
    current = undefined;
    release.splice(0).forEach((resume) => resume());
    await Promise.all(first);
    await until(() => release.length === 2);
    current = undefined;
    release.splice(0).forEach((resume) => resume());
    await Promise.all(second);
    expect(waves).toEqual([['a', 'b', 'c'], ['a', 'b', 'c', 'd', 'e']]);
  });

  it('a failed fsync removes that file and fails only its message', async () => {
    let calls = 0;
    const fsync = async (): Promise<void> => {
      if (++calls === 2) throw Object.assign(new Error('simulated EIO'), { code: 'EIO' });
    };
    const stager = new StagingWaves(open(), fsyncEach(fsync));
    const outcomes = await Promise.allSettled(['a', 'b', 'c'].map((name) => stager.stage(join(root, name), Buffer.from(name), 0o600, none)));
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((await readdir(root)).sort()).toEqual(['a', 'c']);
  });
});

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 2));
  expect(condition()).toBe(true);
}

describe('limitCreates', () => {
  it('runs at most two creations per directory at once, in order, and forgets idle directories', async () => {
    let running = 0;
    let most = 0;
    const order: number[] = [];
    const release: Array<() => void> = [];
    const create = (n: number) =>
      limitCreates('/d', async () => {
        running++;
        most = Math.max(most, running);
        order.push(n);
        await new Promise<void>((resolve) => release.push(resolve));
        running--;
        return n;
      });
    const all = Promise.all([1, 2, 3, 4, 5].map(create));
    // Another directory is not held up by the first one's queue.
    const other = limitCreates('/e', async () => 'e');
    expect(await other).toBe('e');
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(order).toEqual([1, 2]);
    expect(createsIn('/d')).toBe(5);
    while (order.length < 5 || release.length > 0) {
      release.shift()?.();
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    expect(await all).toEqual([1, 2, 3, 4, 5]);
    expect(order).toEqual([1, 2, 3, 4, 5]);
    expect(most).toBe(2);
    expect(createsIn('/d')).toBe(0);
    expect(createsIn('/e')).toBe(0);
  });

  it('a failed creation passes its slot on', async () => {
    const failing = limitCreates('/f', async () => Promise.reject(new Error('EIO')));
    const next = [limitCreates('/f', async () => 1), limitCreates('/f', async () => 2)];
    await expect(failing).rejects.toThrow('EIO');
    expect(await Promise.all(next)).toEqual([1, 2]);
    expect(createsIn('/f')).toBe(0);
  });
});

describe('stageFile / publishFiles: main-thread and thread-pool paths store the same', () => {
  const message = Buffer.from('From: a@b\r\nSubject: x\r\n\r\nline one\r\nbare\nlone\rcr\r\n.\r\n', 'latin1');

  for (const [name, gate] of [
    ['gate open (main thread, fsync in the pool)', () => new SyncIoGate(true, SLOW_SYNC_METADATA_MS)],
    ['gate closed (thread pool throughout)', () => new SyncIoGate(false, SLOW_SYNC_METADATA_MS)],
  ] as const) {
    it(name, async () => {
      const ctx = context(gate());
      const paths = maildirPaths(root, 'alice');
      const staged = await Promise.all([stageFile(ctx, 'alice', paths, message, true), stageFile(ctx, 'alice', paths, message, true)]);
      expect(await readdir(paths.tmp)).toHaveLength(2);
      await publishFiles(staged, ctx, silent);
      expect(await readdir(paths.tmp)).toEqual([]);
      const names = (await readdir(paths.new)).sort();
      expect(names).toHaveLength(2);
      const stored = message.toString('latin1').replace(/\r\n/g, '\n');
      for (const file of staged) {
        expect(file).toMatchObject({ size: stored.length, wireSize: message.length + 1, state: 'published' });
      }
      for (const entry of names) {
        expect(entry).toMatch(new RegExp(`,S=${stored.length},W=${message.length + 1}$`));
        expect(await readFile(join(paths.new, entry), 'latin1')).toBe(stored);
      }
    });
  }

  it('fsyncDirectory works on both paths', async () => {
    await fsyncDirectory(root, new SyncIoGate(true, SLOW_SYNC_METADATA_MS));
    await fsyncDirectory(root, new SyncIoGate(false, SLOW_SYNC_METADATA_MS));
    await fsyncDirectory(root);
  });
});
