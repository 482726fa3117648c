/**
 * syncfs(2) through the Perl helper (the real one: perl is on every machine CI runs on), its
 * errors, and what happens when it cannot run: the waves fall back to an fsync per file.
 */
import { chmod, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FilesystemSync, FilesystemSyncUnavailable } from '../src/filesystem-sync.ts';
import { StagingWaves } from '../src/staging-waves.ts';
import { SLOW_SYNC_METADATA_MS, SyncIoGate } from '../src/sync-io-gate.ts';
import { syncfsWave, type WaveSync, type WrittenFile } from '../src/wave-sync.ts';
import { makeTempRoot, removeTempRoot } from './helpers.ts';

let root: string;
let helpers: FilesystemSync[] = [];

beforeEach(async () => {
  root = await makeTempRoot();
});

afterEach(async () => {
  for (const helper of helpers.splice(0)) helper.close();
  await removeTempRoot(root);
});

function recordingLog() {
  const warnings: Array<{ obj: object; msg: string }> = [];
  return { warnings, warn: (obj: object, msg: string) => void warnings.push({ obj, msg }) };
}

function helper(...args: ConstructorParameters<typeof FilesystemSync>): FilesystemSync {
  const made = new FilesystemSync(...args);
  helpers.push(made);
  return made;
}

describe('FilesystemSync (real syncfs through perl)', () => {
  it('syncs the file systems of the directories given, once each', async () => {
    const log = recordingLog();
    const sync = helper(log);
    await mkdir(join(root, 'a'));
    await mkdir(join(root, 'b'));
    await sync.sync([join(root, 'a'), join(root, 'b'), join(root, 'a')]);
    await sync.sync([root]);
    expect(sync.usable).toBe(true);
    expect(log.warnings).toEqual([]);
  });

  it('answers concurrent requests in order, each with its own outcome', async () => {
    const sync = helper(recordingLog());
    await writeFile(join(root, 'file'), 'x');
    const requests = Array.from({ length: 24 }, (_, i) => (i % 3 === 1 ? join(root, `missing-${i}`) : i % 3 === 2 ? join(root, 'file') : root));
    const outcomes = await Promise.allSettled(requests.map((path) => sync.sync([path])));
    outcomes.forEach((outcome, i) => {
      if (i % 3 === 0) expect(outcome.status, `request ${i}`).toBe('fulfilled');
      else expect(outcome, `request ${i}`).toMatchObject({ status: 'rejected', reason: { code: i % 3 === 1 ? 'ENOENT' : 'ENOTDIR', path: requests[i] } });
    });
    // Failures of the call are not a broken helper: it stays in use.
    expect(sync.usable).toBe(true);
  });

  it('holds one descriptor per file system, not per directory: thousands of Maildirs fit a small fd limit', async () => {
    // The helper under a limit of 32 descriptors, asked for 200 directories.
    const limited = join(root, 'perl-with-32-fds');
    await writeFile(limited, '#!/bin/sh\nulimit -n 32 || exit 97\nexec perl "$@"\n');
    await chmod(limited, 0o755);
    const sync = helper(recordingLog(), { command: limited });
    const dirs = Array.from({ length: 200 }, (_, i) => join(root, `user-${i}`));
    for (const dir of dirs) await mkdir(dir);
    for (let i = 0; i < dirs.length; i += 20) await sync.sync(dirs.slice(i, i + 20));
    await sync.sync(dirs);
    expect(sync.usable).toBe(true);
  });

  it('reports a failing syncfs with its errno (here ENOSYS: a syscall number the kernel does not have)', async () => {
    const sync = helper(recordingLog(), { syscall: 99_999 });
    await expect(sync.sync([root])).rejects.toMatchObject({ code: 'ENOSYS', message: expect.stringContaining('syncfs failed on') });
    expect(sync.usable).toBe(true);
  });

  it('starts a new helper after close()', async () => {
    const sync = helper(recordingLog());
    await sync.sync([root]);
    sync.close();
    await sync.sync([root]);
  });

  it('refuses a path it could not pass to the helper', async () => {
    const sync = helper(recordingLog());
    await expect(sync.sync(['bad\0path'])).rejects.toThrow(/bad directory path/);
  });
});

describe('FilesystemSync when it cannot run', () => {
  it('a missing interpreter: unavailable, said once in the log', async () => {
    const log = recordingLog();
    const sync = helper(log, { command: 'mailnode-test-no-such-perl' });
    await expect(sync.sync([root])).rejects.toBeInstanceOf(FilesystemSyncUnavailable);
    await expect(sync.sync([root])).rejects.toBeInstanceOf(FilesystemSyncUnavailable);
    expect(sync.usable).toBe(false);
    expect(log.warnings).toHaveLength(1);
    expect(log.warnings[0]!.msg).toMatch(/fsynced one by one/);
  });

  it('a helper that dies before answering fails what it was asked as unavailable', async () => {
    const fake = join(root, 'dying-perl');
    await writeFile(fake, '#!/bin/sh\nexit 3\n');
    await chmod(fake, 0o755);
    const log = recordingLog();
    const sync = helper(log, { command: fake });
    await expect(sync.sync([root])).rejects.toBeInstanceOf(FilesystemSyncUnavailable);
    expect(sync.usable).toBe(false);
    expect(JSON.stringify(log.warnings[0]!.obj)).toContain('exited (3)');
  });

  it('an architecture without a known syncfs number is unavailable from the start', async () => {
    const sync = helper(recordingLog(), { syscall: null });
    expect(sync.usable).toBe(false);
    await expect(sync.sync([root])).rejects.toBeInstanceOf(FilesystemSyncUnavailable);
  });
});

describe('syncfsWave', () => {
  const files: WrittenFile[] = [
    { fd: 101, path: '/m/a/tmp/1' },
    { fd: 102, path: '/m/b/tmp/2' },
    { fd: 103, path: '/m/a/tmp/3' },
  ];
  const fake = (outcome: () => Promise<void>, usable = true) => {
    const asked: string[][] = [];
    return { asked, usable, sync: (dirs: Iterable<string>) => (asked.push([...dirs]), outcome()) } as unknown as FilesystemSync & { asked: string[][] };
  };
  const fallback = () => {
    const calls: number[][] = [];
    const sync: WaveSync = async (wave) => (calls.push(wave.map((f) => f.fd)), wave.map(() => undefined));
    return { calls, sync };
  };

  it('one sync for the wave, naming each file’s directory', async () => {
    const filesystem = fake(async () => undefined);
    const backup = fallback();
    expect(await syncfsWave(filesystem, backup.sync)(files)).toEqual([undefined, undefined, undefined]);
    expect((filesystem as unknown as { asked: string[][] }).asked).toEqual([['/m/a/tmp', '/m/b/tmp', '/m/a/tmp']]);
    expect(backup.calls).toEqual([]);
  });

  it('a failed sync fails every file of the wave', async () => {
    const error = Object.assign(new Error('syncfs failed'), { code: 'EIO' });
    const outcomes = await syncfsWave(fake(async () => Promise.reject(error)), fallback().sync)(files);
    expect(outcomes).toEqual([error, error, error]);
  });

  it('falls back to the per-file sync when the helper is unavailable, or known to be', async () => {
    for (const filesystem of [fake(async () => Promise.reject(new FilesystemSyncUnavailable('gone'))), fake(async () => undefined, false)]) {
      const backup = fallback();
      expect(await syncfsWave(filesystem, backup.sync)(files)).toEqual([undefined, undefined, undefined]);
      expect(backup.calls).toEqual([[101, 102, 103]]);
    }
  });
});

describe('StagingWaves with a wave sync', () => {
  const gate = () => new SyncIoGate(true, SLOW_SYNC_METADATA_MS);
  const none = async () => {};

  it('a message is staged only once its wave is synced', async () => {
    let release!: () => void;
    const waves: string[][] = [];
    const sync: WaveSync = async (wave) => {
      waves.push(wave.map((file) => file.path));
      await new Promise<void>((resolve) => (release = resolve));
      return wave.map(() => undefined);
    };
    const stager = new StagingWaves(gate(), sync);
    let staged = 0;
    const stagings = ['a', 'b'].map((name) => stager.stage(join(root, name), Buffer.from(name), 0o600, none).then(() => staged++));
    await until(() => waves.length === 1);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(staged).toBe(0);
    release();
    await Promise.all(stagings);
    expect(staged).toBe(2);
    expect(waves).toEqual([[join(root, 'a'), join(root, 'b')]]);
  });

  it('a failed wave sync removes every file of the wave and fails each message', async () => {
    const sync: WaveSync = async (wave) => wave.map(() => Object.assign(new Error('simulated EIO'), { code: 'EIO' }));
    const stager = new StagingWaves(gate(), sync);
    const outcomes = await Promise.allSettled(['a', 'b', 'c'].map((name) => stager.stage(join(root, name), Buffer.from(name), 0o600, none)));
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(await readdir(root)).toEqual([]);
  });

  it('a wave sync that throws, or answers for too few files, fails the wave instead of staging it', async () => {
    const broken: WaveSync[] = [async () => Promise.reject(new Error('bug')), async (wave) => wave.slice(1).map(() => undefined)];
    for (const sync of broken) {
      const stager = new StagingWaves(gate(), sync);
      const outcomes = await Promise.allSettled(['a', 'b'].map((name) => stager.stage(join(root, name), Buffer.from(name), 0o600, none)));
      expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
      expect(await readdir(root)).toEqual([]);
    }
  });

  it('stages through the real helper', async () => {
    const stager = new StagingWaves(gate(), syncfsWave(helper(recordingLog())));
    await Promise.all(['a', 'b', 'c'].map((name) => stager.stage(join(root, name), Buffer.from(name), 0o600, none)));
    expect((await readdir(root)).sort()).toEqual(['a', 'b', 'c']);
  });
});

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 2));
  expect(condition()).toBe(true);
}
