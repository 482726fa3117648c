import { readdirSync, type Dirent } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Names of the regular, non-hidden files of a directory. The entry type from readdir avoids
 * a stat per file; only file systems that do not report types (DT_UNKNOWN) cost an lstat.
 */
export async function regularFileNames(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names: string[] = [];
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    if (entry.isFile()) names.push(entry.name);
    else if (isUntyped(entry) && (await isRegularFile(join(dir, entry.name)))) names.push(entry.name);
  }
  return names;
}

/**
 * The same without the thread pool (see SyncIoGate); undefined when the directory cannot be
 * read or an entry would need an lstat: regularFileNames() then decides (and reports errors).
 */
export function regularFileNamesNow(dir: string): string[] | undefined {
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return undefined;
  }
  const names: string[] = [];
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    if (entry.isFile()) names.push(entry.name);
    else if (isUntyped(entry)) return undefined;
  }
  return names;
}

function isUntyped(entry: Dirent): boolean {
  return !(
    entry.isDirectory() ||
    entry.isSymbolicLink() ||
    entry.isFIFO() ||
    entry.isSocket() ||
    entry.isBlockDevice() ||
    entry.isCharacterDevice()
  );
}

async function isRegularFile(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isFile();
  } catch {
    return false;
  }
}
