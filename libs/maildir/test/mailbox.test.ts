import { mkdir, readFile, rename, stat, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MessageGoneError } from '@mailnode/message-store';
import type { StagedMessage } from '@mailnode/message-store';
import { MaildirStore, parseMaildirName } from '../src/index.ts';
import { TmpSweeper, sweepTmp } from '../src/tmp-cleanup.ts';
import { contentBytes, maildirOf, makeTempRoot, namesIn, removeTempRoot } from './helpers.ts';

let root: string;
let store: MaildirStore;

beforeEach(async () => {
  root = await makeTempRoot();
  store = new MaildirStore({ root, hostname: 'mx.test' });
});

afterEach(async () => {
  await removeTempRoot(root);
});

const b = (s: string) => Buffer.from(s, 'latin1');

describe.each([
  { mode: 'synchronous listing', syncIo: true },
  { mode: 'thread-pool listing', syncIo: false },
])('openMailbox listing ($mode)', ({ syncIo }) => {
  beforeEach(() => {
    store = new MaildirStore({ root, hostname: 'mx.test', syncIo });
  });

  it('creates an absent Maildir and lists it empty', async () => {
    const session = await store.openMailbox('alice');
    expect(session.user).toBe('alice');
    expect(session.messages).toEqual([]);
    await session.release();
    const md = maildirOf(root, 'alice');
    for (const sub of ['tmp', 'new', 'cur']) expect((await stat(join(md, sub))).mode & 0o777).toBe(0o700);
  });

  it('lists delivered messages in delivery order, moved to cur/ with :2, and stable UIDLs', async () => {
    const staged: StagedMessage[] = [];
    for (const text of ['first\r\n', 'second message\r\n', 'third\r\n\r\nbody\r\n']) {
      staged.push(await store.deliver('bob', b(text)));
    }
    const session = await store.openMailbox('bob');
    expect(session.messages).toEqual(staged.map((s) => ({ uidl: s.uidl, size: s.size, wireSize: s.wireSize })));
    await session.release();
    const md = maildirOf(root, 'bob');
    expect(await namesIn(join(md, 'new'))).toEqual([]);
    const cur = await namesIn(join(md, 'cur'));
    expect(cur).toHaveLength(3);
    for (const name of cur) expect(name).toMatch(/,S=\d+,W=\d+:2,$/);

    const again = await store.openMailbox('bob');
    expect(again.messages.map((m) => m.uidl)).toEqual(staged.map((s) => s.uidl));
    await again.release();
  });

  it('serves messages dropped into new/ by other software, adding sizes to their names', async () => {
    const md = maildirOf(root, 'carol');
    await (await store.openMailbox('carol')).release();
    await writeFile(join(md, 'new', '1600000000.12345_1.otherhost'), 'a\nb\n');
    await writeFile(join(md, 'new', '1600000001.M5P7.dovecot,S=3'), 'x\ny');
    await writeFile(join(md, 'new', '1600000002.M1P7.lda,X=abc'), '\r\n\n');
    await writeFile(join(md, 'new', '.hidden'), 'not a message');
    await mkdir(join(md, 'new', 'subdir'));
    await symlink('/etc/hostname', join(md, 'new', '1600000003.link'));
    await writeFile(join(md, 'cur', '1600000004.M2P8.mua:2,S'), 'seen\n');
    const ours = await store.deliver('carol', b('ours\r\n'));

    const session = await store.openMailbox('carol');
    expect(session.messages).toEqual([
      { uidl: '1600000000.12345_1.otherhost', size: 4, wireSize: 6 },
      { uidl: '1600000001.M5P7.dovecot', size: 3, wireSize: 4 },
      { uidl: '1600000002.M1P7.lda', size: 3, wireSize: 4 },
      { uidl: '1600000004.M2P8.mua', size: 5, wireSize: 6 },
      { uidl: ours.uidl, size: 5, wireSize: 6 },
    ]);
    expect((await contentBytes(await session.read(0))).toString()).toBe('a\nb\n');
    await session.release();

    const cur = await namesIn(join(md, 'cur'));
    expect(cur).toContain('1600000000.12345_1.otherhost,S=4,W=6:2,');
    expect(cur).toContain('1600000001.M5P7.dovecot,S=3,W=4:2,');
    expect(cur).toContain('1600000002.M1P7.lda,X=abc,S=3,W=4:2,');
    expect(await namesIn(join(md, 'new'))).toEqual(['.hidden', '1600000003.link', 'subdir']);
  });

  it('orders by seconds, then M microseconds numerically, then name; unparseable times last', async () => {
    const md = maildirOf(root, 'dave');
    await (await store.openMailbox('dave')).release();
    const names = ['zzz-no-time', '1700000000.M10P1.h', '1700000000.M9P1.h', '1600000000.b', '1600000000.a', '1700000000.M9P1.g'];
    for (const name of names) await writeFile(join(md, 'cur', `${name},S=1,W=1:2,`), 'x');
    const session = await store.openMailbox('dave');
    expect(session.messages.map((m) => m.uidl)).toEqual([
      '1600000000.a',
      '1600000000.b',
      '1700000000.M9P1.g',
      '1700000000.M9P1.h',
      '1700000000.M10P1.h',
      'zzz-no-time',
    ]);
    await session.release();
  });

  it('serves a message once when two names share its unique part', async () => {
    const md = maildirOf(root, 'dup');
    await (await store.openMailbox('dup')).release();
    await writeFile(join(md, 'cur', '1700000000.M1P1.h,S=1,W=1:2,'), 'x');
    await writeFile(join(md, 'cur', '1700000000.M1P1.h,S=1,W=1:2,S'), 'x');
    const session = await store.openMailbox('dup');
    expect(session.messages).toHaveLength(1);
    await session.release();
  });
});

describe.each([
  { mode: 'synchronous reads', syncIo: true },
  { mode: 'thread-pool reads', syncIo: false },
])('read ($mode)', ({ syncIo }) => {
  beforeEach(() => {
    store = new MaildirStore({ root, hostname: 'mx.test', syncIo });
  });


  it('returns a buffer up to smallMessageBytes and a reader above it', async () => {
    const small = new MaildirStore({ root, hostname: 'mx.test', smallMessageBytes: 100, syncIo });
    const atLimit = 'a'.repeat(100);
    const above = 'b'.repeat(300_000);
    await small.deliver('erin', b(atLimit));
    await small.deliver('erin', b(above));
    const session = await small.openMailbox('erin');
    const first = await session.read(0);
    expect(first.kind).toBe('buffer');
    expect((await contentBytes(first)).toString()).toBe(atLimit);
    const second = await session.read(1);
    expect(second.kind).toBe('reader');
    expect((await contentBytes(second)).toString()).toBe(above);
    await session.release();
  });

  it('reads 4 KiB messages as buffers by default', async () => {
    const text = 'line of text\n'.repeat(315);
    await store.deliver('fay', b(text));
    const session = await store.openMailbox('fay');
    const content = await session.read(0);
    expect(content.kind).toBe('buffer');
    expect((await contentBytes(content)).toString()).toBe(text);
    await session.release();
  });

  it('follows a flag rename by another MUA and reports MessageGoneError once it is removed', async () => {
    await store.deliver('gus', b('hello\r\n'));
    const session = await store.openMailbox('gus');
    const cur = join(maildirOf(root, 'gus'), 'cur');
    const [name] = await namesIn(cur);
    await rename(join(cur, name!), join(cur, `${name}RS`));
    expect((await contentBytes(await session.read(0))).toString()).toBe('hello\n');
    await unlink(join(cur, `${name}RS`));
    await expect(session.read(0)).rejects.toBeInstanceOf(MessageGoneError);
    await session.release();
  });

  it('returns the whole file when a foreign name declares a wrong size', async () => {
    const md = maildirOf(root, 'liar');
    await (await store.openMailbox('liar')).release();
    await writeFile(join(md, 'cur', '1700000000.M1P1.h,S=3,W=3:2,'), 'longer than declared');
    const session = await store.openMailbox('liar');
    expect((await contentBytes(await session.read(0))).toString()).toBe('longer than declared');
    await session.release();
  });

  it('reads a large message to the end in any chunk size, and again from the start on a second read', async () => {
    const small = new MaildirStore({ root, hostname: 'mx.test', smallMessageBytes: 1024, syncIo });
    const text = Array.from({ length: 4000 }, (_, i) => `line ${i}\n`).join('');
    await small.deliver('kim', b(text));
    const session = await small.openMailbox('kim');
    const first = await session.read(0);
    expect((await contentBytes(first)).toString()).toBe(text);
    if (first.kind === 'reader') await expect(first.reader.read(Buffer.alloc(10))).rejects.toThrow(/closed/);
    const again = await session.read(0);
    expect(again.kind).toBe('reader');
    if (again.kind !== 'reader') return;
    const whole = Buffer.alloc(text.length + 10);
    expect(await again.reader.read(whole)).toBe(text.length);
    expect(await again.reader.read(whole)).toBe(0);
    again.reader.close();
    again.reader.close();
    await session.release();
  });

  it('reads messages in order past the read-ahead window with the same bytes', async () => {
    const texts = Array.from({ length: 40 }, (_, i) => `Subject: ${i}\n\n${'body\n'.repeat(i + 1)}`);
    for (const text of texts) await store.deliver('lou', b(text));
    const session = await store.openMailbox('lou');
    const seen = [];
    for (let i = 0; i < texts.length; i++) seen.push((await contentBytes(await session.read(i))).toString());
    expect(seen.sort()).toEqual([...texts].sort());
    await session.release();
  });

  it('readNow: a small message at once while synchronous reads are allowed; undefined otherwise', async () => {
    const small = new MaildirStore({ root, hostname: 'mx.test', smallMessageBytes: 100, syncIo });
    await small.deliver('nia', b('short\n'));
    await small.deliver('nia', b('x'.repeat(300)));
    await small.deliver('nia', b('moved away\n'));
    const session = await small.openMailbox('nia');
    const cur = join(maildirOf(root, 'nia'), 'cur');
    const byName = await namesIn(cur);
    // Another MUA renamed message 3 (a flag change): readNow leaves it to read(), which finds it.
    const third = byName.find((name) => name.includes(',S=11,'))!;
    await rename(join(cur, third), join(cur, `${third}S`));
    if (syncIo) expect(session.readNow(0)?.toString()).toBe('short\n');
    else expect(session.readNow(0)).toBeUndefined();
    expect(session.readNow(1)).toBeUndefined();
    expect(session.readNow(2)).toBeUndefined();
    expect((await contentBytes(await session.read(2))).toString()).toBe('moved away\n');
    expect(session.readNow(3)).toBeUndefined();
    await session.release();
    expect(session.readNow(0)).toBeUndefined();
  });

  it('rejects indexes out of range', async () => {
    const session = await store.openMailbox('hal');
    await expect(session.read(0)).rejects.toBeInstanceOf(RangeError);
    await expect(session.read(-1)).rejects.toBeInstanceOf(RangeError);
    await expect(session.commit(new Set([0]))).rejects.toBeInstanceOf(RangeError);
    await session.release();
  });
});

describe('commit and release', () => {
  it('deletes only the chosen messages, tolerating ones already gone or renamed', async () => {
    const staged: StagedMessage[] = [];
    for (let i = 0; i < 5; i++) staged.push(await store.deliver('ida', b(`message ${i}\r\n`)));
    const session = await store.openMailbox('ida');
    const cur = join(maildirOf(root, 'ida'), 'cur');
    const names = await namesIn(cur);
    const nameOf = (i: number) => names.find((n) => parseMaildirName(n).unique === staged[i]!.uidl)!;
    await unlink(join(cur, nameOf(1)));
    await rename(join(cur, nameOf(3)), join(cur, `${nameOf(3)}S`));

    const result = await session.commit(new Set([0, 1, 3]));
    expect(result).toEqual({ deleted: 2, missing: 1 });
    const left = (await namesIn(cur)).map((n) => parseMaildirName(n).unique).sort();
    expect(left).toEqual([staged[2]!.uidl, staged[4]!.uidl].sort());
    for (const n of await namesIn(cur)) expect(await readFile(join(cur, n), 'utf8')).toMatch(/^message [24]\n$/);

    const next = await store.openMailbox('ida');
    expect(next.messages.map((m) => m.uidl)).toEqual([staged[2]!.uidl, staged[4]!.uidl]);
    await next.release();
  });

  it('refuses use after commit or release; release is idempotent', async () => {
    await store.deliver('jim', b('x\r\n'));
    const s1 = await store.openMailbox('jim');
    await s1.release();
    await s1.release();
    await expect(s1.read(0)).rejects.toThrow(/closed/);
    await expect(s1.commit(new Set())).rejects.toThrow(/closed/);

    const s2 = await store.openMailbox('jim');
    expect(await s2.commit(new Set())).toEqual({ deleted: 0, missing: 0 });
    await s2.release();
    await expect(s2.read(0)).rejects.toThrow(/closed/);
    const s3 = await store.openMailbox('jim');
    expect(s3.messages).toHaveLength(1);
    await s3.release();
  });
});

describe('tmp/ sweep', () => {
  it('removes only tmp/ files untouched for more than 36 hours', async () => {
    const tmp = join(root, 'tmp');
    await mkdir(tmp);
    await writeFile(join(tmp, 'a'), 'x');
    await writeFile(join(tmp, 'b'), 'y');
    const log = { warn() {} };
    expect(await sweepTmp(tmp, Date.now() + 35 * 3600_000, log)).toBe(0);
    const old = new Date(Date.now() - 40 * 3600_000);
    await utimes(join(tmp, 'a'), old, old);
    expect(await sweepTmp(tmp, Date.now() + 37 * 3600_000, log)).toBe(2);
    expect(await namesIn(tmp)).toEqual([]);
  });

  it('sweeps a mailbox at most once an hour per process', async () => {
    const tmp = join(root, 'tmp');
    await mkdir(tmp);
    const sweeper = new TmpSweeper({ warn() {} });
    const t0 = Date.now() + 40 * 3600_000;
    await sweeper.maybeSweep(tmp, t0);
    await writeFile(join(tmp, 'late'), 'x');
    await sweeper.maybeSweep(tmp, t0 + 30 * 60_000);
    expect(await namesIn(tmp)).toEqual(['late']);
    await sweeper.maybeSweep(tmp, t0 + 61 * 60_000);
    expect(await namesIn(tmp)).toEqual([]);
  });

  it('does not remove fresh staged messages when a mailbox is opened', async () => {
    const staged = await store.stage('kim', b('pending\r\n'));
    const session = await store.openMailbox('kim');
    await session.release();
    await store.publish([staged]);
    const session2 = await store.openMailbox('kim');
    expect(session2.messages.map((m) => m.uidl)).toEqual([staged.uidl]);
    await session2.release();
  });
});
