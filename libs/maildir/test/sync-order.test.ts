/**
 * The order in which a real process makes staged messages durable, read from strace: every
 * message file is created in tmp/, then synced (one syncfs for the wave, made by the helper,
 * or an fsync of each file), and only then linked into new/; the new/ directory is fsynced
 * after the last link and before publish() returns. A crash at any point leaves nothing
 * half-written in new/ and nothing reported stored that is not on disk.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTempRoot, removeTempRoot } from './helpers.ts';

const COUNT = 12;
const fixture = fileURLToPath(new URL('./fixtures/stage-and-publish.ts', import.meta.url));
const workspaceRoot = fileURLToPath(new URL('../../..', import.meta.url));

let root: string;

beforeEach(async () => {
  root = await makeTempRoot();
});

afterEach(async () => {
  await removeTempRoot(root);
});

interface Call {
  readonly name: string;
  readonly args: string;
  readonly result: string;
  /** When the call began and when it returned, in seconds. */
  readonly start: number;
  readonly end: number;
}

/**
 * Runs the fixture under strace, one output file per thread (so no call is split in two by
 * another thread's), and returns its file-system calls merged in order of their start.
 */
function trace(method: 'syncfs' | 'fsync'): Call[] {
  const dir = join(root, 'strace');
  mkdirSync(dir);
  const run = spawnSync(
    'strace',
    ['-ff', '-ttt', '-T', '-qq', '-e', 'trace=openat,syncfs,fsync,link', '-o', join(dir, 'out'), process.execPath, '--import', 'tsx', fixture, root, String(COUNT), method],
    { cwd: workspaceRoot, encoding: 'utf8', timeout: 60_000 },
  );
  if (run.error) throw new Error(`strace could not run (is it installed? .ci/run installs it): ${run.error.message}`);
  expect(run.status, run.stderr).toBe(0);
  const calls: Call[] = [];
  for (const file of readdirSync(dir)) {
    for (const line of readFileSync(join(dir, file), 'utf8').split('\n')) {
      const match = /^(\d+\.\d+) (\w+)\((.*)\)\s+=\s+(-?\d+).*<(\d+\.\d+)>$/.exec(line);
      if (match) calls.push({ start: Number(match[1]), name: match[2]!, args: match[3]!, result: match[4]!, end: Number(match[1]) + Number(match[5]) });
    }
  }
  return calls.sort((a, b) => a.start - b.start);
}

function orderOf(calls: Call[], method: 'syncfs' | 'fsync') {
  const maildir = join(root, 'u', 'Maildir');
  const path = (call: Call) => /"([^"]+)"/.exec(call.args)![1]!;
  const fd = (call: Call) => /^(\d+)/.exec(call.args)![1]!;
  const ok = (name: string) => calls.filter((call) => call.name === name && call.result === '0');
  const creates = calls.filter((call) => call.name === 'openat' && call.args.includes(`${maildir}/tmp/`) && call.args.includes('O_CREAT') && call.result !== '-1');
  const links = ok('link').filter((call) => call.args.includes(`${maildir}/new/`));
  const published = calls.find((call) => call.name === 'openat' && call.args.includes(`${root}/published`));
  const newDirOpens = calls.filter((call) => call.name === 'openat' && call.args.includes(`"${maildir}/new"`));
  const fsyncs = ok('fsync');
  return { creates, links, published, newDirOpens, fsyncs, syncs: method === 'syncfs' ? ok('syncfs') : fsyncs, path, fd };
}

describe('durability order of staging and publishing (strace of a real process)', () => {
  for (const method of ['syncfs', 'fsync'] as const) {
    it(`${method}: create in tmp/, sync, link into new/, fsync new/, then return`, () => {
      const { creates, links, published, newDirOpens, fsyncs, syncs, path, fd } = orderOf(trace(method), method);
      expect(creates).toHaveLength(COUNT);
      expect(links).toHaveLength(COUNT);
      expect(published).toBeDefined();
      for (const link of links) {
        const create = creates.find((c) => path(c) === path(link));
        expect(create, `${path(link)} was created in tmp/`).toBeDefined();
        // syncfs covers every file of the file system; an fsync only its own descriptor.
        const covers = (sync: (typeof syncs)[number]) => method === 'syncfs' || fd(sync) === create!.result;
        const synced = syncs.some((sync) => covers(sync) && sync.start > create!.end && sync.end < link.start);
        expect(synced, `${path(link)} synced after its creation and before its link`).toBe(true);
      }
      if (method === 'syncfs') expect(syncs.length, 'one syncfs per wave, not one per file').toBeLessThan(COUNT);
      const lastLink = Math.max(...links.map((link) => link.end));
      const dirSynced = newDirOpens.some((open) => open.start > lastLink && fsyncs.some((f) => fd(f) === open.result && f.start > open.end && f.end < published!.start));
      expect(dirSynced, 'new/ fsynced after the last link and before publish() returned').toBe(true);
    });
  }
});
