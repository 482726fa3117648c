/**
 * The single-instance guard: `<state_dir>/mailnode.pid`, holding the pid of the node that owns
 * the state directory. It appears atomically with its content (written to a private temp file,
 * then hard-linked into place, which fails when the name exists), so two nodes starting at the
 * same moment cannot both win, and a reader never sees a half-written file.
 *
 * A pid file whose pid is dead, is our own (a container restarted with the same pid), or belongs
 * to a program that is not a mailnode node (pid reused; /proc/PID/cmdline) is stale and taken
 * over. Only one starter at a time may remove a stale file (a short-lived `.takeover` file,
 * itself created by link), so no starter can delete the lock another one has just taken.
 */
import { linkSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StartupError } from '../startup-error.ts';

export const PID_FILE_NAME = 'mailnode.pid';

/** A takeover file older than this was left by a starter that died mid-takeover. */
const TAKEOVER_STALE_MS = 10_000;
const ATTEMPTS = 200;
const RETRY_MS = 25;

/** Command words of `node apps/mailnode` processes that are not nodes (they never hold the lock). */
const NOT_A_NODE = new Set(['poll', 'status', 'stop', 'check', 'fetch', 'passwd', 'help']);

export class AlreadyRunningError extends StartupError {
  constructor(
    readonly stateDir: string,
    readonly pid: number,
  ) {
    super(`another mailnode is running on state dir ${stateDir} (pid ${pid}); poll through it with \`mailnode poll\`, or stop it with \`mailnode stop\``);
  }
}

export class InstanceLock {
  private released = false;
  private readonly onExit = () => this.release();

  private constructor(readonly path: string) {
    // Released however the process ends (a crash too); only SIGKILL leaves a stale file.
    process.on('exit', this.onExit);
  }

  /** Takes the state directory, or throws AlreadyRunningError naming the holder. */
  static async acquire(stateDir: string): Promise<InstanceLock> {
    const path = join(stateDir, PID_FILE_NAME);
    const temp = `${path}.${process.pid}.tmp`;
    writeFileSync(temp, `${process.pid}\n`, { mode: 0o600 });
    try {
      for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
        if (tryLink(temp, path)) return new InstanceLock(path);
        const content = readIfPresent(path);
        if (content === undefined) continue; // released meanwhile: try again at once
        const holder = holderOf(content);
        if (holder !== undefined) throw new AlreadyRunningError(stateDir, holder);
        if (!removeStale(path, content, temp)) await sleep(RETRY_MS);
      }
    } finally {
      unlinkQuietly(temp);
    }
    throw new StartupError(`${path}: could not take the single-instance lock (another node keeps starting?)`);
  }

  /** Removes the pid file if it is still ours. Synchronous: it also runs in the 'exit' handler. */
  release(): void {
    if (this.released) return;
    this.released = true;
    process.off('exit', this.onExit);
    if (readIfPresent(this.path)?.trim() === String(process.pid)) unlinkQuietly(this.path);
  }
}

/** The pid of a live mailnode node named by a pid file's content, or undefined when the file is stale. */
export function holderOf(content: string): number | undefined {
  const pid = Number(content.trim());
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid) return undefined;
  if (!isProcessAlive(pid)) return undefined;
  const argv = commandLineOf(pid);
  // Without /proc (or when it is hidden) a live pid has to count as the holder.
  if (argv === undefined) return pid;
  return isMailnodeNode(argv) ? pid : undefined;
}

/** `node .../apps/mailnode [run] --config ...`, not a `mailnode status` client or another program. */
export function isMailnodeNode(argv: readonly string[]): boolean {
  return argv.some((arg) => /mailnode/.test(arg)) && !argv.some((arg) => NOT_A_NODE.has(arg));
}

/**
 * Under the takeover file: removes the pid file if it still holds the stale content we read.
 * Returns false when another starter is taking over (wait and look again).
 */
function removeStale(path: string, staleContent: string, temp: string): boolean {
  const takeover = `${path}.takeover`;
  if (!tryLink(temp, takeover)) {
    const content = readIfPresent(takeover);
    const owner = Number(content?.trim());
    if (content !== undefined && (!isProcessAlive(owner) || ageMs(takeover) > TAKEOVER_STALE_MS)) unlinkQuietly(takeover);
    return false;
  }
  try {
    if (readIfPresent(path) === staleContent) unlinkQuietly(path);
  } finally {
    unlinkQuietly(takeover);
  }
  return true;
}

function tryLink(from: string, to: string): boolean {
  try {
    linkSync(from, to);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new StartupError(`${to}: cannot create (${(error as NodeJS.ErrnoException).code ?? error})`);
  }
}

function readIfPresent(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // gone already
  }
}

function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

function commandLineOf(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return undefined;
  }
}

/** process.kill(pid, 0): ESRCH means no such process; EPERM means it exists but is not ours. */
function isProcessAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
