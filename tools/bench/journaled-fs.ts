/**
 * A journaled ext4 for the retriever runs' destinations, made for the bench: an image file
 * formatted by mkfs.ext4 with its defaults (journal, mounted data=ordered) and loop-mounted.
 *
 * Mail servers run on journaled file systems. There an fsync commits the journal and flushes the
 * disk's cache, which a tool that fsyncs each message pays once per message, and which group
 * commit pays once per wave. This VM's root file system has no journal, where an fsync costs
 * little; so the section measures on both and reports both.
 *
 * Needs root (mount) and e2fsprogs; otherwise the section runs on the root file system only and
 * says why.
 */
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { onCleanup } from './cleanup.ts';

/** Room for every kept run of a full section (2 x 8 runs of 8 MB, 2 x 2 runs of 49 MB) and more. */
const IMAGE_BYTES = 3 * 1024 ** 3;

export interface JournaledFs {
  /** Mount point: an empty directory on the journaled file system. */
  readonly dir: string;
  /** One line for the report. */
  readonly describe: string;
  unmount(): Promise<void>;
}

/** Why a journaled ext4 cannot be made here; undefined when it can. */
export function journaledFsUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not root (mount needs it)';
  for (const tool of ['mkfs.ext4', 'mount', 'umount']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`], { timeout: 5000 }).status !== 0) return `${tool} not found`;
  }
  return undefined;
}

/** Formats and mounts a fresh image under `parent`; unmounted by unmount() or on cleanup. */
export async function mountJournaledExt4(parent: string): Promise<JournaledFs> {
  const image = join(parent, 'ext4-journaled.img');
  const dir = join(parent, 'ext4-journaled');
  await writeFile(image, '');
  await truncate(image, IMAGE_BYTES);
  // Inode tables and journal written now: lazy init would zero them in the background, during
  // the timed runs.
  run(['mkfs.ext4', '-q', '-F', '-E', 'lazy_itable_init=0,lazy_journal_init=0', image]);
  await mkdir(dir);
  run(['mount', '-o', 'loop', image, dir]);
  let mounted = true;
  const unmount = async () => {
    if (!mounted) return;
    mounted = false;
    // A lazy unmount if something still holds it (a killed retriever's open files).
    if (spawnSync('umount', [dir], { timeout: 30_000 }).status !== 0) spawnSync('umount', ['-l', dir], { timeout: 30_000 });
    await rm(image, { force: true });
  };
  const unregister = onCleanup(`umount ${dir}`, unmount);
  await chmod(dir, 0o755);
  const options = mountOptions(dir);
  if (!/\bext4\b/.test(options) || !hasJournal(image)) {
    await unmount();
    unregister();
    throw new Error(`${dir} is not a journaled ext4 (${options})`);
  }
  return {
    dir,
    describe: `ext4 with a journal (mkfs.ext4 defaults; ${options}), on a loop device over a ${IMAGE_BYTES / 1024 ** 3} GiB image on the root file system`,
    async unmount() {
      await unmount();
      unregister();
    },
  };
}

function run(argv: string[]): void {
  const result = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 120_000 });
  if (result.status !== 0) throw new Error(`${argv.join(' ')} failed: ${(result.stderr || result.error?.message || `exit ${result.status}`).trim()}`);
}

/** "ext4 rw,relatime" from /proc/mounts, for the report. */
function mountOptions(dir: string): string {
  const result = spawnSync('findmnt', ['-n', '-o', 'FSTYPE,OPTIONS', dir], { encoding: 'utf8', timeout: 5000 });
  return result.status === 0 ? result.stdout.trim().replace(/\s+/, ' ') : 'findmnt failed';
}

function hasJournal(image: string): boolean {
  const result = spawnSync('dumpe2fs', ['-h', image], { encoding: 'utf8', timeout: 10_000 });
  return result.status === 0 && /^Filesystem features:.*\bhas_journal\b/m.test(result.stdout);
}
