/**
 * FileLedger, the per-client JSON-lines journal of UIDLs: round trip through a fresh instance,
 * a torn last line (crash mid-append), compaction, and file permissions.
 */
import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileLedger } from '../src/file-ledger.ts';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mailnode-ledger-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** What a new process would see. */
async function reload(path: string) {
  const ledger = new FileLedger(path);
  const state = await ledger.load();
  return { ledger, delivered: [...state.delivered].sort(), pending: [...state.pending].sort((a, b) => a[0].localeCompare(b[0])) };
}

const lines = async (path: string) => (await readFile(path, 'utf8')).split('\n');

describe('FileLedger', () => {
  it('loads an empty state when the file does not exist, and creates nothing by loading', async () => {
    const path = join(dir, 'none', 'c.uidl');
    const ledger = new FileLedger(path);
    const state = await ledger.load();
    expect(state.delivered.size).toBe(0);
    expect(state.pending.size).toBe(0);
    await expect(stat(path)).rejects.toMatchObject({ code: 'ENOENT' });
    await ledger.close();
  });

  it('round trip: markPending and markDelivered survive into a new instance', async () => {
    const ledger = FileLedger.forClient(join(dir, 'retriever'), 'client-1');
    await ledger.load();
    await ledger.markPending([
      { uidl: 'a', ref: '{"user":"alice","id":"1.M1"}' },
      { uidl: 'b', ref: 'ref-b' },
      { uidl: 'c', ref: 'ref-c' },
    ]);
    await ledger.markDelivered(['a', 'b']);
    await ledger.markPending([{ uidl: 'weird uidl "quoted" \\ ü', ref: 'r' }]);
    await ledger.close();
    const path = join(dir, 'retriever', 'client-1.uidl');
    const again = await reload(path);
    expect(again.delivered).toEqual(['a', 'b']);
    expect(again.pending).toEqual([
      ['c', 'ref-c'],
      ['weird uidl "quoted" \\ ü', 'r'],
    ]);
    for (const line of (await lines(path)).filter(Boolean)) expect(() => JSON.parse(line)).not.toThrow();
    await again.ledger.close();
  });

  it('empty calls write nothing', async () => {
    const path = join(dir, 'c.uidl');
    const ledger = new FileLedger(path);
    await ledger.load();
    await ledger.markPending([]);
    await ledger.markDelivered([]);
    await expect(stat(path)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a delivered entry wins over a later pending entry for the same UIDL', async () => {
    const path = join(dir, 'c.uidl');
    await writeFile(path, '{"d":"x"}\n{"p":"x","r":"late"}\n');
    const state = await reload(path);
    expect(state.delivered).toEqual(['x']);
    expect(state.pending).toEqual([]);
  });

  it('a torn last line (crash mid-append) is ignored, and the next append starts on a line of its own', async () => {
    const path = join(dir, 'c.uidl');
    const first = new FileLedger(path);
    await first.load();
    await first.markDelivered(['a']);
    await first.markPending([{ uidl: 'b', ref: 'ref-b' }]);
    await first.close();
    // The crash: half of '{"d":"b"}\n' made it to disk.
    await appendFile(path, '{"d":"');
    const second = new FileLedger(path);
    const state = await second.load();
    expect([...state.delivered]).toEqual(['a']);
    expect([...state.pending]).toEqual([['b', 'ref-b']]);
    await second.markDelivered(['b', 'c']);
    await second.close();
    const text = await readFile(path, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    // Every line but the torn fragment parses; the fragment stands alone.
    const bad = text.split('\n').filter(Boolean).filter((line) => {
      try {
        JSON.parse(line);
        return false;
      } catch {
        return true;
      }
    });
    expect(bad).toEqual(['{"d":"']);
    const third = await reload(path);
    expect(third.delivered).toEqual(['a', 'b', 'c']);
    expect(third.pending).toEqual([]);
  });

  it('a torn line that is only a prefix of a UIDL never yields a wrong UIDL', async () => {
    const path = join(dir, 'c.uidl');
    await writeFile(path, '{"d":"AAAA0001"}\n{"d":"AAAA00');
    const state = await reload(path);
    expect(state.delivered).toEqual(['AAAA0001']);
  });

  it('garbage lines anywhere are skipped', async () => {
    const path = join(dir, 'c.uidl');
    await writeFile(path, '{"d":"a"}\n\u0000\u0000\u0000\nnot json\n{"p":"b","r":"rb"}\n\n{"d":"c"}\n');
    const state = await reload(path);
    expect(state.delivered).toEqual(['a', 'c']);
    expect(state.pending).toEqual([['b', 'rb']]);
  });

  it('compact keeps pending entries and delivered UIDLs still on the server, drops vanished ones', async () => {
    const path = join(dir, 'c.uidl');
    const ledger = new FileLedger(path);
    await ledger.load();
    await ledger.markPending([
      { uidl: 'p-on', ref: 'r1' },
      { uidl: 'p-gone', ref: 'r2' },
    ]);
    await ledger.markDelivered(['d-on', 'd-gone']);
    await ledger.compact(new Set(['d-on', 'p-on', 'never-seen']));
    const after = await reload(path);
    expect(after.delivered).toEqual(['d-on']);
    // Pending entries stay whatever the server lists: only the next run's recovery settles them.
    expect(after.pending).toEqual([
      ['p-gone', 'r2'],
      ['p-on', 'r1'],
    ]);
    // The ledger goes on working after compaction (its file handle was replaced).
    await ledger.markDelivered(['new-1']);
    await ledger.close();
    const final = await reload(path);
    expect(final.delivered).toEqual(['d-on', 'new-1']);
    await expect(stat(`${path}.tmp`)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('compact of a torn file leaves a clean file', async () => {
    const path = join(dir, 'c.uidl');
    await writeFile(path, '{"d":"a"}\n{"d":"b"}\n{"p":"c","r":"rc"}\n{"d":');
    const ledger = new FileLedger(path);
    await ledger.load();
    await ledger.compact(new Set(['a']));
    await ledger.markDelivered(['z']);
    await ledger.close();
    const text = await readFile(path, 'utf8');
    for (const line of text.split('\n').filter(Boolean)) expect(() => JSON.parse(line)).not.toThrow();
    const state = await reload(path);
    expect(state.delivered).toEqual(['a', 'z']);
    expect(state.pending).toEqual([['c', 'rc']]);
  });

  it('the journal is private: file mode 0600 (after appends and after compaction), a new directory 0700', async () => {
    const previous = process.umask(0o022);
    try {
      const base = join(dir, 'fresh', 'retriever');
      const ledger = FileLedger.forClient(base, 'c');
      await ledger.load();
      await ledger.markDelivered(['a']);
      const path = join(base, 'c.uidl');
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      expect((await stat(base)).mode & 0o777).toBe(0o700);
      await ledger.compact(new Set(['a']));
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      await ledger.close();
    } finally {
      process.umask(previous);
    }
  });

  it('many appends stay one JSON object per line', async () => {
    const path = join(dir, 'c.uidl');
    const ledger = new FileLedger(path);
    await ledger.load();
    for (let i = 0; i < 50; i++) {
      await ledger.markPending([{ uidl: `u${i}`, ref: `r${i}` }]);
      await ledger.markDelivered([`u${i}`]);
    }
    await ledger.close();
    const text = (await lines(path)).filter(Boolean);
    expect(text).toHaveLength(100);
    const state = await reload(path);
    expect(state.delivered).toHaveLength(50);
    expect(state.pending).toEqual([]);
  });
});
