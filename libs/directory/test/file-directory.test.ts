import { chmod, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DirectoryUnavailableError, FileDirectory, hashPassword } from '../src/index.ts';
import type { FileDirectoryOptions } from '../src/index.ts';
import { DIRECTORY_FIXTURE, describeDirectoryContract } from './directory-contract.ts';
import { aliasesLines, makeTempDir, mockLog, usersLines } from './fixture-files.ts';
import type { MockLog, TempDir } from './fixture-files.ts';

describeDirectoryContract('FileDirectory', async () => {
  const dir = await makeTempDir();
  const directory = new FileDirectory({
    usersFile: await dir.write('users', ['# mailnode users', '', ...usersLines(DIRECTORY_FIXTURE)]),
    aliasesFile: await dir.write('aliases', ['# aliases', ...aliasesLines(DIRECTORY_FIXTURE)], 0o644),
    domainsFile: await dir.write('domains', [...DIRECTORY_FIXTURE.domains], 0o644),
  });
  return { directory, cleanup: () => dir.remove() };
});

describe('FileDirectory files', () => {
  let dir: TempDir;
  let log: MockLog;
  const open: FileDirectory[] = [];

  beforeEach(async () => {
    dir = await makeTempDir();
    log = mockLog();
  });

  afterEach(async () => {
    await Promise.all(open.splice(0).map((d) => d.close()));
    await dir.remove();
  });

  function directory(options: Partial<FileDirectoryOptions> = {}): FileDirectory {
    const created = new FileDirectory({
      usersFile: dir.file('users'),
      aliasesFile: dir.file('aliases'),
      domainsFile: dir.file('domains'),
      reloadCheckMs: 0,
      log,
      ...options,
    });
    open.push(created);
    return created;
  }

  const password = (d: FileDirectory, username: string, pw: string) => d.authenticate({ mechanism: 'PASSWORD', username, password: pw });
  const warnedLines = () => log.warn.mock.calls.map(([obj]) => (obj as { line?: number }).line).filter((line) => line !== undefined);

  describe('users file format', () => {
    it('splits at the first colon, so passwords may contain colons', async () => {
      await dir.write('users', ['frank:pa:ss:word', 'gina:{PLAIN}a:b']);
      const d = directory();
      expect(await password(d, 'frank', 'pa:ss:word')).toMatchObject({ ok: true });
      expect(await password(d, 'frank', 'pa')).toEqual({ ok: false, reason: 'bad-credentials' });
      expect(await password(d, 'gina', 'a:b')).toMatchObject({ ok: true });
    });

    it('skips comments and blank lines, accepts CRLF, and lower-cases names', async () => {
      await dir.write('users', ['# comment', '   ', '  # indented comment', 'Grace:pw-grace\r', 'heidi:pw-heidi\r']);
      const d = directory();
      expect(await d.lookupUser('grace')).toEqual({ name: 'grace', canLogin: true });
      expect(await password(d, 'GRACE', 'pw-grace')).toMatchObject({ ok: true, user: { name: 'grace' } });
      expect(await password(d, 'heidi', 'pw-heidi')).toMatchObject({ ok: true });
      expect(log.warn).not.toHaveBeenCalled();
    });

    it('keeps users without a password (with or without the colon) as mail-only', async () => {
      await dir.write('users', ['carol:', 'ivan', 'judy:{PLAIN}']);
      const d = directory();
      for (const name of ['carol', 'ivan', 'judy']) {
        expect(await d.lookupUser(name)).toEqual({ name, canLogin: false });
        expect(await password(d, name, '')).toEqual({ ok: false, reason: 'bad-credentials' });
        expect(await d.authenticate({ mechanism: 'EXTERNAL', username: name })).toEqual({ ok: false, reason: 'bad-credentials' });
      }
    });

    it('reports malformed lines with file and line number and keeps the other users', async () => {
      const lines = [
        'alice:pw-alice', // 1
        ':no-name', // 2
        'a/b:pw', // 3
        'bad name:pw', // 4
        '.hidden:pw', // 5
        'ctl\u0001:pw', // 6
        'zed:{FOO}secret', // 7
        'alice:other', // 8 duplicate
        'ALICE:other', // 9 duplicate after lower-casing
        'yan:{SHA512-CRYPT}garbage', // 10
        'des:{CRYPT}abJnggxhB/yWI', // 11 DES crypt is refused
        'bob:pw-bob', // 12
      ];
      const usersFile = await dir.write('users', lines);
      const d = directory();
      expect(await password(d, 'alice', 'pw-alice')).toMatchObject({ ok: true });
      expect(await password(d, 'alice', 'other')).toEqual({ ok: false, reason: 'bad-credentials' });
      expect(await password(d, 'bob', 'pw-bob')).toMatchObject({ ok: true });
      for (const name of ['zed', 'yan', 'des', '.hidden', 'a/b']) expect(await d.lookupUser(name)).toBeNull();
      expect(warnedLines()).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
      for (const [obj, msg] of log.warn.mock.calls) {
        expect(obj).toMatchObject({ file: usersFile });
        expect(msg).toContain(usersFile);
      }
      expect(log.warn.mock.calls[5]![0]).toMatchObject({ line: 7, reason: expect.stringContaining('{FOO}') });
      expect(log.warn.mock.calls[6]![0]).toMatchObject({ line: 8, reason: expect.stringContaining('duplicate') });
    });

    it('reports the warnings again only when the file changes', async () => {
      await dir.write('users', ['alice:pw', 'bad name:pw']);
      const d = directory();
      await d.lookupUser('alice');
      await d.lookupUser('alice');
      expect(log.warn).toHaveBeenCalledTimes(1);
    });
  });

  describe('aliases and domains files', () => {
    it('reports malformed alias lines with line numbers and keeps the rest', async () => {
      await dir.write('users', ['alice:pw', 'bob:pw']);
      const aliasesFile = await dir.write('aliases', [
        'good:alice', // 1
        'bad/alias:alice', // 2
        'lonely', // 3
        'empty:', // 4
        'good:bob', // 5 duplicate
        'gap:alice::bob', // 6
        'sp:bad user', // 7
        'dom:x@bad_domain', // 8
        'spaced: alice : bob ', // 9 valid, recipients trimmed
      ]);
      const d = directory({ domainsFile: undefined });
      expect(await d.expandAlias('good')).toEqual(['alice']);
      expect(await d.expandAlias('spaced')).toEqual(['alice', 'bob']);
      expect(await d.expandAlias('gap')).toEqual([]);
      expect(warnedLines()).toEqual([2, 3, 4, 5, 6, 7, 8]);
      expect(log.warn.mock.calls.every(([obj]) => (obj as { file: string }).file === aliasesFile)).toBe(true);
    });

    it('resolves targets: local addresses, users, nested aliases, unknown names dropped, duplicates merged', async () => {
      await dir.write('users', ['alice:pw', 'bob:pw', 'carol:']);
      await dir.write('domains', ['example.org', 'Example.NET.']);
      await dir.write('aliases', [
        'mix:ALICE@example.org:nobody:carol:Bob@example.net:friend@Elsewhere.Example',
        'diamond:left:right',
        'left:inner',
        'right:inner:alice',
        'inner:bob',
        'alice:bob', // an alias shadows the user of the same name
      ]);
      const d = directory();
      expect(await d.expandAlias('mix')).toEqual(['bob', 'carol', 'friend@elsewhere.example']);
      expect(await d.expandAlias('diamond')).toEqual(['bob']);
      expect(await d.expandAlias('alice')).toEqual(['bob']);
    });

    it('caps nesting at 16 alias levels', async () => {
      await dir.write('users', ['alice:pw']);
      const chain = (prefix: string, length: number) =>
        Array.from({ length }, (_, i) => `${prefix}${i}:${i === length - 1 ? 'alice' : `${prefix}${i + 1}`}`);
      await dir.write('aliases', [...chain('ok', 16), ...chain('deep', 17)]);
      const d = directory();
      expect(await d.expandAlias('ok0')).toEqual(['alice']);
      expect(await d.expandAlias('deep0')).toEqual([]);
      expect(log.warn).toHaveBeenCalledWith(expect.objectContaining({ address: 'deep0' }), expect.stringContaining('deep0'));
    });

    it('reports malformed and duplicate domains', async () => {
      const domainsFile = await dir.write('domains', ['example.org', 'bad_domain', '-x.org', 'EXAMPLE.org', 'ok.example']);
      const d = directory();
      expect(await d.isLocalDomain('ok.example')).toBe(true);
      expect(await d.isLocalDomain('bad_domain')).toBe(false);
      expect(warnedLines()).toEqual([2, 3, 4]);
      expect(log.warn.mock.calls[0]![0]).toMatchObject({ file: domainsFile });
    });

    it('treats every domain as local without a domains file, or with an empty one', async () => {
      await dir.write('users', ['alice:pw']);
      expect(await directory({ domainsFile: undefined }).isLocalDomain('anything.example')).toBe(true);
      expect(await directory({ domainsFile: undefined }).expandAlias('alice@anything.example')).toEqual(['alice']);
      await dir.write('domains', ['# none yet']);
      expect(await directory().isLocalDomain('anything.example')).toBe(true);
    });

    it('works with no files configured at all', async () => {
      const d = directory({ usersFile: undefined, aliasesFile: undefined, domainsFile: undefined });
      expect(await d.lookupUser('alice')).toBeNull();
      expect(await password(d, 'alice', 'x')).toEqual({ ok: false, reason: 'bad-credentials' });
      expect(await d.expandAlias('alice')).toEqual([]);
    });
  });

  describe('reloading', () => {
    it('applies edits without a restart: new, changed and removed users, changed aliases', async () => {
      await dir.write('users', ['alice:pw-alice', 'bob:pw-bob']);
      await dir.write('aliases', ['team:alice']);
      const d = directory();
      expect(await password(d, 'alice', 'pw-alice')).toMatchObject({ ok: true });
      expect(await d.expandAlias('team')).toEqual(['alice']);

      await dir.write('users', ['alice:pw-alice-2', 'carl:pw-carl']);
      await dir.write('aliases', ['team:alice:carl']);
      expect(await password(d, 'alice', 'pw-alice')).toEqual({ ok: false, reason: 'bad-credentials' });
      expect(await password(d, 'alice', 'pw-alice-2')).toMatchObject({ ok: true });
      expect(await password(d, 'carl', 'pw-carl')).toMatchObject({ ok: true });
      expect(await d.lookupUser('bob')).toBeNull();
      expect(await d.expandAlias('team')).toEqual(['alice', 'carl']);
    });

    it('notices a same-size edit and an editor-style replace by rename', async () => {
      await dir.write('users', ['alice:pw-aaaa']);
      const d = directory();
      expect(await password(d, 'alice', 'pw-aaaa')).toMatchObject({ ok: true });
      await dir.write('users', ['alice:pw-bbbb']);
      expect(await password(d, 'alice', 'pw-bbbb')).toMatchObject({ ok: true });
      await dir.write('users.new', ['alice:pw-cccc']);
      await rename(dir.file('users.new'), dir.file('users'));
      expect(await password(d, 'alice', 'pw-cccc')).toMatchObject({ ok: true });
    });

    it('never answers an old password from the verify cache after a change', async () => {
      const fast = { shaCryptRounds: 1000 };
      await dir.write('users', [`bob:${await hashPassword('SHA512-CRYPT', 'old-pw', fast)}`]);
      const d = directory();
      expect(await password(d, 'bob', 'old-pw')).toMatchObject({ ok: true });
      expect(await password(d, 'bob', 'old-pw')).toMatchObject({ ok: true });
      await dir.write('users', [`bob:${await hashPassword('SHA512-CRYPT', 'new-pw', fast)}`]);
      expect(await password(d, 'bob', 'old-pw')).toEqual({ ok: false, reason: 'bad-credentials' });
      expect(await password(d, 'bob', 'new-pw')).toMatchObject({ ok: true });
    });

    it('checks for changes at most once per reloadCheckMs', async () => {
      await dir.write('users', ['alice:one']);
      const d = directory({ reloadCheckMs: 400 });
      expect(await password(d, 'alice', 'one')).toMatchObject({ ok: true });
      await dir.write('users', ['alice:two']);
      expect(await password(d, 'alice', 'one')).toMatchObject({ ok: true });
      await new Promise((resolve) => setTimeout(resolve, 450));
      expect(await password(d, 'alice', 'two')).toMatchObject({ ok: true });
    });

    it('treats a vanished file as empty, logs it once, and picks it up again when it returns', async () => {
      const usersFile = await dir.write('users', ['alice:pw']);
      await dir.write('aliases', ['team:alice']);
      const d = directory({ domainsFile: undefined });
      expect(await d.lookupUser('alice')).not.toBeNull();
      await rm(usersFile);
      await rm(dir.file('aliases'));
      expect(await d.lookupUser('alice')).toBeNull();
      expect(await d.lookupUser('alice')).toBeNull();
      expect(await d.expandAlias('team')).toEqual([]);
      expect(await d.expandAlias('team')).toEqual([]);
      const missingWarnings = log.warn.mock.calls.filter(([, msg]) => String(msg).includes('does not exist'));
      expect(missingWarnings.map(([obj]) => (obj as { file: string }).file).sort()).toEqual([dir.file('aliases'), usersFile].sort());
      await dir.write('users', ['alice:pw']);
      expect(await d.lookupUser('alice')).not.toBeNull();
    });

    it('treats a vanished domains file as "every domain is local"', async () => {
      await dir.write('domains', ['example.org']);
      const d = directory();
      expect(await d.isLocalDomain('other.example')).toBe(false);
      await rm(dir.file('domains'));
      expect(await d.isLocalDomain('other.example')).toBe(true);
    });
  });

  describe('security and availability', () => {
    for (const mode of [0o644, 0o604, 0o602, 0o601]) {
      it(`refuses a users file with mode ${mode.toString(8)} (open to others)`, async () => {
        const usersFile = await dir.write('users', ['alice:pw'], mode);
        const d = directory();
        const attempt = d.authenticate({ mechanism: 'PASSWORD', username: 'alice', password: 'pw' });
        await expect(attempt).rejects.toBeInstanceOf(DirectoryUnavailableError);
        await expect(d.lookupUser('alice')).rejects.toThrow(usersFile);
        await expect(d.lookupUser('alice')).rejects.toThrow(`0${mode.toString(8)}`);
        await expect(d.expandAlias('alice')).rejects.toBeInstanceOf(DirectoryUnavailableError);
        expect(log.error).toHaveBeenCalledTimes(1);
        expect(log.error.mock.calls[0]![0]).toMatchObject({ file: usersFile });
      });
    }

    it('accepts owner- and group-only modes', async () => {
      await dir.write('users', ['alice:pw'], 0o640);
      expect(await password(directory(), 'alice', 'pw')).toMatchObject({ ok: true });
    });

    it('refuses a file that becomes world-readable even with a good copy loaded, and recovers after chmod', async () => {
      const usersFile = await dir.write('users', ['alice:pw']);
      const d = directory();
      expect(await password(d, 'alice', 'pw')).toMatchObject({ ok: true });
      await chmod(usersFile, 0o644);
      await expect(password(d, 'alice', 'pw')).rejects.toBeInstanceOf(DirectoryUnavailableError);
      await expect(password(d, 'alice', 'pw')).rejects.toBeInstanceOf(DirectoryUnavailableError);
      expect(log.error).toHaveBeenCalledTimes(1);
      await chmod(usersFile, 0o600);
      expect(await password(d, 'alice', 'pw')).toMatchObject({ ok: true });
    });

    it('throws DirectoryUnavailableError for an unreadable users file when it has no good copy', async () => {
      // Tests may run as root, which ignores permission bits; a directory in place of the file
      // gives a read error regardless.
      await mkdir(dir.file('users'), { mode: 0o700 });
      const d = directory();
      await expect(password(d, 'alice', 'pw')).rejects.toBeInstanceOf(DirectoryUnavailableError);
      await expect(d.lookupUser('alice')).rejects.toThrow(dir.file('users'));
      expect(log.error).toHaveBeenCalledTimes(1);
    });

    it('keeps serving the last good copy when the users file becomes unreadable', async () => {
      const usersFile = await dir.write('users', ['alice:pw']);
      const d = directory();
      expect(await password(d, 'alice', 'pw')).toMatchObject({ ok: true });
      await rm(usersFile);
      await mkdir(usersFile, { mode: 0o700 });
      expect(await password(d, 'alice', 'pw')).toMatchObject({ ok: true });
      expect(await password(d, 'alice', 'pw')).toMatchObject({ ok: true });
      expect(log.error).toHaveBeenCalledTimes(1);
      expect(log.error.mock.calls[0]![0]).toMatchObject({ file: usersFile, servingLastGoodCopy: true });
      await rm(usersFile, { recursive: true });
      await writeFile(usersFile, 'alice:pw2\n', { mode: 0o600 });
      expect(await password(d, 'alice', 'pw2')).toMatchObject({ ok: true });
    });

    it('stops answering after close()', async () => {
      await dir.write('users', ['alice:pw']);
      const d = directory();
      await d.close();
      await expect(d.lookupUser('alice')).rejects.toBeInstanceOf(DirectoryUnavailableError);
    });

    it('authenticates with the verify cache disabled', async () => {
      await dir.write('users', [`bob:${await hashPassword('SHA256-CRYPT', 'pw', { shaCryptRounds: 1000 })}`]);
      const d = directory({ verifyCacheSize: 0 });
      expect(await password(d, 'bob', 'pw')).toMatchObject({ ok: true });
      expect(await password(d, 'bob', 'pw')).toMatchObject({ ok: true });
      expect(await password(d, 'bob', 'nope')).toEqual({ ok: false, reason: 'bad-credentials' });
    });
  });
});
