/** Writes directory files into a private temp dir for FileDirectory tests. */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vi } from 'vitest';
import type { Mock } from 'vitest';
import type { DirectoryLog } from '../src/index.ts';
import type { DirectoryFixture } from './directory-contract.ts';

export interface TempDir {
  readonly path: string;
  file(name: string): string;
  /** Writes `lines` (joined with '\n') and sets the mode explicitly (writeFile's mode is masked by umask). */
  write(name: string, lines: readonly string[], mode?: number): Promise<string>;
  remove(): Promise<void>;
}

export async function makeTempDir(): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), 'mailnode-directory-'));
  const file = (name: string): string => join(path, name);
  return {
    path,
    file,
    async write(name, lines, mode = 0o600) {
      const target = file(name);
      await writeFile(target, `${lines.join('\n')}\n`, { mode });
      await chmod(target, mode);
      return target;
    },
    remove: () => rm(path, { recursive: true, force: true }),
  };
}

export function usersLines(fixture: DirectoryFixture): string[] {
  return fixture.users.map((user) => (user.storedSecret === null ? `${user.name}:` : `${user.name}:${user.storedSecret}`));
}

export function aliasesLines(fixture: DirectoryFixture): string[] {
  return fixture.aliases.map((alias) => [alias.name, ...alias.recipients].join(':'));
}

export interface MockLog extends DirectoryLog {
  readonly warn: Mock<DirectoryLog['warn']>;
  readonly error: Mock<DirectoryLog['error']>;
}

export function mockLog(): MockLog {
  return { warn: vi.fn<DirectoryLog['warn']>(), error: vi.fn<DirectoryLog['error']>() };
}
