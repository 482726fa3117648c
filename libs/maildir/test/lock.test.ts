import type { ChildProcess } from 'node:child_process';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readdir, readFile, stat, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MailboxLockedError } from '@mailnode/message-store';
import { LOCK_FILE_NAME, MaildirStore } from '../src/index.ts';
import { parseStartTime } from '../src/process-start.ts';
import { killHard, spawnFixture, waitForLine } from './child-process.ts';
import { maildirOf, makeTempRoot, removeTempRoot } from './helpers.ts';

const HOST = 'mx.test';
let root: string;
let store: MaildirStore;
const children: ChildProcess[] = [];

// Every case with the lock file made synchronously (the usual path) and on the thread pool.
describe.each([true, false])('mailbox lock (syncIo: %s)', (syncIo) => {
  beforeEach(async () => {
    root = await makeTempRoot();
    store = new MaildirStore({ root, hostname: HOST, syncIo });
  });

  afterEach(async () => {
    await Promise.all(children.splice(0).map((c) => killHard(c)));
    await removeTempRoot(root);
  });

  const lockPath = (user: string) => join(maildirOf(root, user), LOCK_FILE_NAME);

  /** Creates the user's Maildir and leaves a lock file with the given content behind. */
  async function plantLock(user: string, content: string, ageMs = 0): Promise<void> {
    await (await store.openMailbox(user)).release();
    await writeFile(lockPath(user), content);
    if (ageMs > 0) {
      const then = new Date(Date.now() - ageMs);
      await utimes(lockPath(user), then, then);
    }
  }

  function startTimeOfPid(pid: number): number {
    return parseStartTime(readFileSync(`/proc/${pid}/stat`, 'utf8'))!;
  }

  describe('lock within one process', () => {
    it('is exclusive per mailbox and released by release()', async () => {
      const session = await store.openMailbox('alice');
      const error = await store.openMailbox('alice').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MailboxLockedError);
      expect((error as MailboxLockedError).holder).toBe(`pid ${process.pid} on ${HOST}`);
      await expect(new MaildirStore({ root, hostname: HOST, syncIo }).openMailbox('alice')).rejects.toBeInstanceOf(MailboxLockedError);
      const other = await store.openMailbox('bob');
      await other.release();
      await session.release();
      await expect(stat(lockPath('alice'))).rejects.toMatchObject({ code: 'ENOENT' });
      await (await store.openMailbox('alice')).release();
    });

    it('lets exactly one of concurrent opens win', async () => {
      const results = await Promise.allSettled(Array.from({ length: 8 }, () => store.openMailbox('carol')));
      const won = results.filter((r) => r.status === 'fulfilled');
      expect(won).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(MailboxLockedError);
      await (won[0] as PromiseFulfilledResult<Awaited<ReturnType<MaildirStore['openMailbox']>>>).value.release();
    });

    it('writes {pid, host, start} with the start time from /proc', async () => {
      const session = await store.openMailbox('dave');
      const record = JSON.parse(await readFile(lockPath('dave'), 'utf8'));
      expect(record).toEqual({ pid: process.pid, host: HOST, start: startTimeOfPid(process.pid) });
      await session.release();
    });

    it('stays exclusive when the same mailbox is reached through a symlinked root', async () => {
      const alias = `${root}-alias`;
      await symlink(root, alias);
      try {
        const session = await store.openMailbox('eve');
        const error = await new MaildirStore({ root: alias, hostname: HOST }).openMailbox('eve').catch((e: unknown) => e);
        expect(error).toBeInstanceOf(MailboxLockedError);
        await session.release();
      } finally {
        await unlink(alias);
      }
    });

    it('treats a lock naming this process but not held by it as stale', async () => {
      await plantLock('erin', JSON.stringify({ pid: process.pid, host: HOST, start: startTimeOfPid(process.pid) }));
      await (await store.openMailbox('erin')).release();
    });
  });

  describe('stale locks on this host', () => {
    it('recovers a lock whose pid is dead', async () => {
      const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
      const deadPid = Number(gone.stdout.toString());
      await plantLock('fay', JSON.stringify({ pid: deadPid, host: HOST, start: 1 }));
      await (await store.openMailbox('fay')).release();
    });

    it('treats a live pid with another start time as reused, and a matching one as held', async () => {
      const pid = process.ppid;
      const start = startTimeOfPid(pid);
      await plantLock('gus', JSON.stringify({ pid, host: HOST, start: start + 1 }));
      await (await store.openMailbox('gus')).release();

      await writeFile(lockPath('gus'), JSON.stringify({ pid, host: HOST, start }));
      const error = await store.openMailbox('gus').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MailboxLockedError);
      expect((error as MailboxLockedError).holder).toBe(`pid ${pid} on ${HOST}`);
    });

    it('treats a garbled lock as held while fresh and stale once old', async () => {
      await plantLock('hal', '');
      await expect(store.openMailbox('hal')).rejects.toBeInstanceOf(MailboxLockedError);
      const old = new Date(Date.now() - 60_000);
      await utimes(lockPath('hal'), old, old);
      await (await store.openMailbox('hal')).release();
    });
  });

  describe('locks from other hosts', () => {
    it('are held while their mtime is fresh and stale after foreignLockStaleMs', async () => {
      const record = JSON.stringify({ pid: 1, host: 'other.example', start: 5 });
      await plantLock('ida', record, 9 * 60_000);
      const error = await store.openMailbox('ida').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MailboxLockedError);
      expect((error as MailboxLockedError).holder).toBe('pid 1 on other.example');

      const old = new Date(Date.now() - 11 * 60_000);
      await utimes(lockPath('ida'), old, old);
      await (await store.openMailbox('ida')).release();
    });

    it('are refreshed by their holder every foreignLockStaleMs/3', async () => {
      const fast = new MaildirStore({ root, hostname: HOST, syncIo, foreignLockStaleMs: 300 });
      const session = await fast.openMailbox('jim');
      const old = new Date(Date.now() - 3600_000);
      await utimes(lockPath('jim'), old, old);
      await new Promise((r) => setTimeout(r, 400));
      expect((await stat(lockPath('jim'))).mtimeMs).toBeGreaterThan(Date.now() - 60_000);
      const elsewhere = new MaildirStore({ root, hostname: 'other.example', foreignLockStaleMs: 300 });
      await expect(elsewhere.openMailbox('jim')).rejects.toBeInstanceOf(MailboxLockedError);
      await session.release();
    });
  });

  describe('lock across processes', () => {
    it('excludes other processes and is recovered after the holder is SIGKILLed', async () => {
      await store.deliver('kim', Buffer.from('hello\r\n'));
      const child = spawnFixture('hold-lock.ts', [root, 'kim', HOST]);
      children.push(child);
      const line = await waitForLine(child, 'locked');
      expect(line).toBe(`locked ${child.pid} 1`);

      const error = await store.openMailbox('kim').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MailboxLockedError);
      expect((error as MailboxLockedError).holder).toBe(`pid ${child.pid} on ${HOST}`);

      await killHard(child);
      const session = await store.openMailbox('kim');
      expect(session.messages).toHaveLength(1);
      expect(JSON.parse(await readFile(lockPath('kim'), 'utf8')).pid).toBe(process.pid);
      await session.release();
    });

    it('makes a child wait its turn while this process holds the lock', async () => {
      const session = await store.openMailbox('lea');
      const child = spawnFixture('hold-lock.ts', [root, 'lea', HOST]);
      children.push(child);
      const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      expect(await waitForLine(child, 'busy')).toBe(`busy pid ${process.pid} on ${HOST}`);
      expect(await exit).toBe(3);
      await session.release();
    });
  });
});

describe('spare lock files', () => {
  beforeEach(async () => {
    root = await makeTempRoot();
    store = new MaildirStore({ root, hostname: HOST });
  });

  afterEach(async () => {
    await Promise.all(children.splice(0).map((c) => killHard(c)));
    await removeTempRoot(root);
  });

  const lockPath = (user: string) => join(maildirOf(root, user), LOCK_FILE_NAME);
  const spareNames = async (user: string) => (await readdir(maildirOf(root, user))).filter((name) => name.startsWith(`${LOCK_FILE_NAME}.spare.`)).sort();

  it('takes and releases the lock by linking one spare: no inode made or freed per session', async () => {
    await store.deliver('amy', Buffer.from('hello\r\n'));
    const first = await store.openMailbox('amy');
    const [spare, ...more] = await spareNames('amy');
    expect(more).toEqual([]);
    expect(spare).toMatch(new RegExp(`\\.spare\\.${process.pid}\\.\\d+\\.${HOST.replace('.', '\\.')}$`));
    const held = await stat(lockPath('amy'));
    const spareStat = await stat(join(maildirOf(root, 'amy'), spare!));
    expect(held.ino).toBe(spareStat.ino);
    expect(held.nlink).toBe(2);
    expect(JSON.parse(await readFile(lockPath('amy'), 'utf8'))).toMatchObject({ pid: process.pid, host: HOST });
    await first.release();
    await expect(stat(lockPath('amy'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await stat(join(maildirOf(root, 'amy'), spare!))).nlink).toBe(1);
    for (let i = 0; i < 3; i++) {
      const again = await store.openMailbox('amy');
      expect((await stat(lockPath('amy'))).ino).toBe(held.ino);
      await again.release();
    }
    expect(await spareNames('amy')).toEqual([spare]);
  });

  it('makes a spare removed by hand again', async () => {
    await store.deliver('ben', Buffer.from('hello\r\n'));
    await (await store.openMailbox('ben')).release();
    const [spare] = await spareNames('ben');
    await unlink(join(maildirOf(root, 'ben'), spare!));
    const session = await store.openMailbox('ben');
    expect(JSON.parse(await readFile(lockPath('ben'), 'utf8'))).toMatchObject({ pid: process.pid });
    await session.release();
    expect(await spareNames('ben')).toEqual([spare]);
  });

  it('keeps at most maxSpareLocks spares, removing the oldest not in use', async () => {
    const few = new MaildirStore({ root, hostname: HOST, maxSpareLocks: 2 });
    const users = ['dan', 'dee', 'don', 'dot'];
    for (const user of users) await few.deliver(user, Buffer.from('hello\r\n'));
    const held = await few.openMailbox('dan');
    for (const user of users.slice(1)) await (await few.openMailbox(user)).release();
    // dan's spare is in use (its lock is held) and stays; the oldest free ones went instead.
    expect(await Promise.all(users.map(async (user) => (await spareNames(user)).length))).toEqual([1, 0, 0, 1]);
    await held.release();
    await (await few.openMailbox('dee')).release();
    expect(await Promise.all(users.map(async (user) => (await spareNames(user)).length))).toEqual([0, 1, 0, 1]);
  });

  it("removes the spares of this host's ended processes; keeps live and other hosts' ones", async () => {
    await store.deliver('cat', Buffer.from('hello\r\n'));
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    const deadPid = Number(gone.stdout.toString());
    const live = spawn('sleep', ['30'], { stdio: 'ignore' });
    children.push(live);
    const liveStart = parseStartTime(readFileSync(`/proc/${live.pid}/stat`, 'utf8'))!;
    const planted = {
      dead: `${LOCK_FILE_NAME}.spare.${deadPid}.1.${HOST}`,
      reused: `${LOCK_FILE_NAME}.spare.${live.pid}.${liveStart + 1}.${HOST}`,
      live: `${LOCK_FILE_NAME}.spare.${live.pid}.${liveStart}.${HOST}`,
      foreign: `${LOCK_FILE_NAME}.spare.${deadPid}.1.other.example`,
    };
    for (const name of Object.values(planted)) await writeFile(join(maildirOf(root, 'cat'), name), '{}');
    await (await store.openMailbox('cat')).release();
    const deadline = Date.now() + 5000;
    const swept = async () => !(await spareNames('cat')).some((name) => name === planted.dead || name === planted.reused);
    while (!(await swept()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const left = await spareNames('cat');
    expect(left).not.toContain(planted.dead);
    expect(left).not.toContain(planted.reused);
    expect(left).toContain(planted.live);
    expect(left).toContain(planted.foreign);
    expect(left.filter((name) => name.includes(`.spare.${process.pid}.`))).toHaveLength(1);
  });
});
