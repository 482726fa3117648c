/** The state directory: everything mailnode writes lives below it, private to its owner. */
import { chmod, constants, copyFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { MailnodeConfig } from '@mailnode/config';

export async function prepareStateDir(config: MailnodeConfig): Promise<void> {
  await mkdir(config.state_dir, { recursive: true, mode: 0o700 });
  await mkdir(config.message_store.root, { recursive: true, mode: 0o700 });
}

/**
 * First start with `seed_from`: copy the Directory files that do not exist yet, private (0600),
 * so the demo users work while a world-readable checkout never serves as a users file.
 */
export async function seedDirectoryFiles(config: MailnodeConfig): Promise<string[]> {
  const directory = config.directory;
  if (directory.type !== 'files' || !directory.seed_from) return [];
  const seeded: string[] = [];
  for (const [name, target] of [['users', directory.users], ['aliases', directory.aliases], ['domains', directory.domains]] as const) {
    const source = join(directory.seed_from, name);
    if (existsSync(target) || !existsSync(source)) continue;
    await mkdir(dirname(target), { recursive: true, mode: 0o700 });
    await copyFile(source, target, constants.COPYFILE_EXCL);
    await chmod(target, 0o600);
    seeded.push(target);
  }
  return seeded;
}
