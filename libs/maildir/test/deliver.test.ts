import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '@mailnode/message-store';
import type { StagedMessage } from '@mailnode/message-store';
import { MaildirStore, parseMaildirName } from '../src/index.ts';
import {
  chunked,
  maildirOf,
  makeTempRoot,
  namesIn,
  referenceCrlfToLf,
  referenceWireSize,
  removeTempRoot,
} from './helpers.ts';

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

async function onlyFile(dir: string): Promise<{ name: string; data: Buffer }> {
  const names = await namesIn(dir);
  expect(names).toHaveLength(1);
  return { name: names[0]!, data: await readFile(join(dir, names[0]!)) };
}

describe('deliver', () => {
  it('stores CRLF input with LF line endings and exact S= and W= in the name', async () => {
    const message = b('Subject: hi\r\n\r\nbody line\r\nlone\rcr\r\n');
    const staged = await store.deliver('alice', message);
    const { name, data } = await onlyFile(join(maildirOf(root, 'alice'), 'new'));
    expect(data.toString('latin1')).toBe('Subject: hi\n\nbody line\nlone\rcr\n');
    const parsed = parseMaildirName(name);
    expect(parsed.size).toBe(data.length);
    expect(parsed.wireSize).toBe(message.length);
    expect(parsed.flags).toBeUndefined();
    expect(staged).toMatchObject({ user: 'alice', uidl: parsed.unique, size: data.length, wireSize: message.length });
    expect(await namesIn(join(maildirOf(root, 'alice'), 'tmp'))).toEqual([]);
  });

  it('stores input as is with crlf: false and counts bare LFs for W=', async () => {
    const staged = await store.deliver('bob', b('a\nb\r\nc'), { crlf: false });
    const { name, data } = await onlyFile(join(maildirOf(root, 'bob'), 'new'));
    expect(data.toString('latin1')).toBe('a\nb\r\nc');
    expect(parseMaildirName(name)).toMatchObject({ size: 6, wireSize: 7 });
    expect(staged.wireSize).toBe(7);
  });

  it('creates files with mode 0600 and directories with mode 0700', async () => {
    await store.deliver('carol', b('x\r\n'));
    const dir = join(maildirOf(root, 'carol'), 'new');
    const { name } = await onlyFile(dir);
    expect((await stat(join(dir, name))).mode & 0o777).toBe(0o600);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
  });

  it('streams a large message in small chunks with the right sizes', async () => {
    const line = b('0123456789'.repeat(7) + '\r\n');
    const lines = 40_000; // ~2.9 MiB
    async function* source() {
      for (let i = 0; i < lines; i++) yield line;
    }
    const staged = await store.deliver('dave', source());
    const dir = join(maildirOf(root, 'dave'), 'new');
    const { name, data } = await onlyFile(dir);
    const expected = Buffer.concat(Array.from({ length: lines }, () => b('0123456789'.repeat(7) + '\n')));
    expect(createHash('sha256').update(data).digest('hex')).toBe(createHash('sha256').update(expected).digest('hex'));
    expect(parseMaildirName(name)).toMatchObject({ size: expected.length, wireSize: line.length * lines });
    expect(staged.size).toBe(expected.length);
  });

  it('stores exactly the CRLF→LF conversion with the right W= for any bytes and chunking', async () => {
    const bytes = fc
      .array(fc.oneof(fc.constantFrom(13, 10, 13, 10), fc.integer({ min: 0, max: 255 })), { maxLength: 400, size: 'medium' })
      .map((a) => Uint8Array.from(a));
    let n = 0;
    await fc.assert(
      fc.asyncProperty(bytes, fc.array(fc.nat(), { maxLength: 12, size: 'medium' }), async (data, cuts) => {
        const user = `p${n++}`;
        const staged = await store.deliver(user, chunked(data, cuts.map((c) => c % (data.length + 1))));
        const { name, data: stored } = await onlyFile(join(maildirOf(root, user), 'new'));
        const expected = referenceCrlfToLf(data);
        expect(stored).toEqual(expected);
        expect(parseMaildirName(name)).toMatchObject({ size: expected.length, wireSize: referenceWireSize(expected) });
        expect(staged.wireSize).toBe(referenceWireSize(expected));
      }),
      { numRuns: 60 },
    );
  });
});

describe('stage / publish / discard', () => {
  it('keeps staged messages invisible until publish, then moves them to new/', async () => {
    const a = await store.stage('erin', b('one\r\n'));
    const c = await store.stage('erin', b('two\r\n'));
    const other = await store.stage('frank', b('three\r\n'));
    const md = maildirOf(root, 'erin');
    expect(await namesIn(join(md, 'new'))).toEqual([]);
    expect(await namesIn(join(md, 'tmp'))).toHaveLength(2);

    await store.publish([a, c, other]);
    expect(await namesIn(join(md, 'tmp'))).toEqual([]);
    const published = await namesIn(join(md, 'new'));
    expect(published.map((n) => parseMaildirName(n).unique).sort()).toEqual([a.uidl, c.uidl].sort());
    expect(await namesIn(join(maildirOf(root, 'frank'), 'new'))).toHaveLength(1);
  });

  it('discards staged messages and ignores already published ones', async () => {
    const a = await store.stage('gina', b('one\r\n'));
    const c = await store.stage('gina', b('two\r\n'));
    await store.publish([c]);
    await store.discard([a, c]);
    const md = maildirOf(root, 'gina');
    expect(await namesIn(join(md, 'tmp'))).toEqual([]);
    expect(await namesIn(join(md, 'new'))).toHaveLength(1);
    await expect(store.publish([a])).rejects.toThrow(/discarded/);
  });

  it('rejects objects it did not stage, double publication and duplicates', async () => {
    const fake: StagedMessage = { user: 'h', id: 'x', uidl: 'x', size: 1, wireSize: 1 };
    await expect(store.publish([fake])).rejects.toThrow(TypeError);
    await expect(store.discard([fake])).rejects.toThrow(TypeError);
    const a = await store.stage('h', b('x'));
    await expect(new MaildirStore({ root }).publish([a])).rejects.toThrow(TypeError);
    await expect(store.publish([a, a])).rejects.toThrow(TypeError);
    await store.publish([a]);
    await expect(store.publish([a])).rejects.toThrow(/already published/);
    expect(await namesIn(join(maildirOf(root, 'h'), 'new'))).toHaveLength(1);
  });

  it('creates the Maildir on first delivery and recreates a removed new/', async () => {
    const { rm } = await import('node:fs/promises');
    await store.deliver('ivan', b('1'));
    await rm(join(maildirOf(root, 'ivan'), 'new'), { recursive: true });
    await store.deliver('ivan', b('2'));
    expect(await namesIn(join(maildirOf(root, 'ivan'), 'new'))).toHaveLength(1);
  });
});

describe('failures', () => {
  async function* failing(code: string) {
    yield b('partial data\r\n'.repeat(1000));
    throw Object.assign(new Error(`simulated ${code}`), { code });
  }

  it('surfaces ENOSPC as StoreUnavailableError and leaves nothing behind', async () => {
    const error = await store.deliver('jane', failing('ENOSPC')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as Error).message).toMatch(/disk full/);
    expect((error as Error).cause).toMatchObject({ code: 'ENOSPC' });
    const md = maildirOf(root, 'jane');
    expect(await namesIn(join(md, 'tmp'))).toEqual([]);
    expect(await namesIn(join(md, 'new'))).toEqual([]);
  });

  it('surfaces EIO from stage as StoreUnavailableError', async () => {
    const error = await store.stage('jane', failing('EIO')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as Error).message).toMatch(/EIO/);
    expect(await namesIn(join(maildirOf(root, 'jane'), 'tmp'))).toEqual([]);
  });

  it('rejects user names that could escape the root with a plain Error', async () => {
    for (const user of ['', '.', '..', '../x', 'a/../x', 'a//b', '/abs', 'a/', 'a/.x', 'a\\b', 'a\0b', 'a\nb', '.hidden', 'del\x7f']) {
      const error = await store.deliver(user, b('x')).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect(error).not.toBeInstanceOf(StoreUnavailableError);
      await expect(store.openMailbox(user)).rejects.toThrow(/invalid mailbox name/);
    }
    expect(await namesIn(root)).toEqual([]);
  });

  it('accepts a mailbox location below the root (a Directory mailbox attribute)', async () => {
    await store.deliver('example.org/grace', b('Subject: g\r\n\r\nhi\r\n'));
    expect(await namesIn(join(root, 'example.org', 'grace', 'Maildir', 'new'))).toHaveLength(1);
  });
});

describe('recover after a crash between stage and publish', () => {
  it('says delivered for a published message, also after it moved to cur/', async () => {
    const message = await store.deliver('rita', b('Subject: r\r\n\r\nbody\r\n'));
    expect(await store.recover('rita', message.id)).toBe('delivered');
    const session = await store.openMailbox('rita');
    await session.release();
    expect(await namesIn(join(maildirOf(root, 'rita'), 'cur'))).toHaveLength(1);
    expect(await store.recover('rita', message.id)).toBe('delivered');
  });

  it('publishes a message left staged in tmp/, exactly once', async () => {
    const staged = await store.stage('sam', b('Subject: s\r\n\r\nline\r\n'));
    const fresh = new MaildirStore({ root });
    expect(await fresh.recover('sam', staged.id)).toBe('delivered');
    expect(await fresh.recover('sam', staged.id)).toBe('delivered');
    const md = maildirOf(root, 'sam');
    const names = await namesIn(join(md, 'new'));
    expect(names).toHaveLength(1);
    expect(parseMaildirName(names[0]!)).toMatchObject({ unique: staged.id, size: 17, wireSize: 20 });
    expect(await namesIn(join(md, 'tmp'))).toEqual([]);
  });

  it('says not-delivered when the message is nowhere, and refuses path tricks', async () => {
    expect(await store.recover('tom', '1700000000.M1P1Q1Rdeadbeef.host')).toBe('not-delivered');
    expect(await store.recover('tom', '../../etc/passwd')).toBe('not-delivered');
  });
});
