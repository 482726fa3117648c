import { open } from 'node:fs/promises';

/** fsync of a directory, so a new or renamed entry in it survives a crash. */
export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
