/**
 * syncfs(2): one call makes everything written so far on a file system durable (file data,
 * inodes, directory entries), with one cache flush of the disk where an fsync of each file
 * pays one flush per file. On this project's test VM, 2 000 staged 4 KiB messages take about
 * 140 ms of fsyncs even 32 at a time, and about 30 ms of syncfs in waves of a hundred.
 *
 * Node has no binding for syncfs, so a small helper process makes the call: Perl (part of
 * every Debian and most Linux installs, Essential on Debian) started once and fed the
 * directories to sync on a pipe. It keeps a descriptor of each file system open, so a write-back
 * error on that file system since it opened it is reported by the next syncfs (Linux 5.8+
 * errseq), the same guarantee fsync gives for the descriptors we hold.
 *
 * When the helper cannot run (not Linux, no perl, an unknown CPU architecture, the helper
 * died), `sync` rejects with FilesystemSyncUnavailable and the caller fsyncs each file instead.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';

/** syncfs(2)'s number on the architectures Node runs on (Linux). */
const SYNCFS_SYSCALL: Readonly<Record<string, number>> = {
  x64: 306,
  ia32: 344,
  arm: 373,
  arm64: 267,
  riscv64: 267,
  loong64: 267,
  ppc64: 348,
  s390x: 338,
};

/**
 * Reads requests from stdin: directory paths, each ended by NUL, the request by an empty path.
 * Answers each request with one line: "0", or "<errno> <path>" for the first failure. Keeps one
 * descriptor per file system (not per directory: a node may deliver to thousands of Maildirs),
 * opened at its first request, so the write-back errors seen by its syncfs are those since then.
 */
const HELPER = String.raw`
use strict; use warnings; use Fcntl;
$| = 1; $/ = "\0\0";
my $syncfs = shift;
my %filesystem;
while (my $request = <STDIN>) {
  chomp $request;
  my ($errno, $where) = (0, '');
  my %synced;
  for my $dir (split /\0/, $request) {
    my $fh;
    unless (sysopen($fh, $dir, O_RDONLY | O_DIRECTORY)) { ($errno, $where) = (0 + $!, $dir); last; }
    my $device = (stat $fh)[0];
    next if $synced{$device}++;
    $filesystem{$device} //= $fh;
    if (syscall($syncfs, fileno $filesystem{$device}) != 0) { ($errno, $where) = (0 + $!, $dir); last; }
  }
  print "$errno $where\n";
}
`;

/** The helper could not be used; fsync each file instead. */
export class FilesystemSyncUnavailable extends Error {}

export interface FilesystemSyncLogger {
  warn(obj: object, msg: string): void;
}

interface Pending {
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

/** One helper process and the requests it has not answered yet, oldest first. */
interface Helper {
  readonly child: ChildProcessByStdio<Writable, Readable, null>;
  readonly pending: Pending[];
  answer: string;
  /** Ended by close(): its exit is expected. */
  retired: boolean;
}

const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, value]) => [value, name]));

export class FilesystemSync {
  private helper: Helper | undefined;
  private unavailable: string | undefined;

  private readonly command: string;
  private readonly syscall: number | null;

  constructor(
    private readonly log: FilesystemSyncLogger,
    /** For tests: another interpreter, or another syscall number (null: none known here). */
    options: { readonly command?: string; readonly syscall?: number | null } = {},
  ) {
    this.command = options.command ?? 'perl';
    this.syscall = options.syscall !== undefined ? options.syscall : process.platform === 'linux' ? (SYNCFS_SYSCALL[process.arch] ?? null) : null;
    if (this.syscall === null) this.unavailable = `syncfs is not known on ${process.platform}/${process.arch}`;
  }

  /** Whether a sync may still be tried (false once the helper is known not to work). */
  get usable(): boolean {
    return this.unavailable === undefined;
  }

  /**
   * Resolves once syncfs(2) has succeeded on the file system of every directory given (once
   * per file system). Rejects with the errno as `code` (ENOSPC, EIO, ...) when a sync failed,
   * or with FilesystemSyncUnavailable when no helper can make the call.
   */
  sync(directories: Iterable<string>): Promise<void> {
    if (this.unavailable !== undefined) return Promise.reject(new FilesystemSyncUnavailable(this.unavailable));
    const paths = [...new Set(directories)];
    if (paths.length === 0) return Promise.resolve();
    if (paths.some((path) => path === '' || path.includes('\0'))) return Promise.reject(new Error('FilesystemSync: bad directory path'));
    const helper = (this.helper ??= this.start());
    return new Promise<void>((resolve, reject) => {
      if (helper.pending.length === 0) keepAlive(helper, true);
      helper.pending.push({ resolve, reject });
      helper.child.stdin.write(`${paths.join('\0')}\0\0`);
    });
  }

  /** Ends the helper once it has answered what it was asked; a later sync starts a new one. */
  close(): void {
    const helper = this.helper;
    if (!helper) return;
    this.helper = undefined;
    helper.retired = true;
    helper.child.stdin.end();
  }

  private start(): Helper {
    const child = spawn(this.command, ['-e', HELPER, String(this.syscall)], { stdio: ['pipe', 'pipe', 'ignore'] });
    const helper: Helper = { child, pending: [], answer: '', retired: false };
    child.stdout.setEncoding('latin1');
    child.stdout.on('data', (text: string) => this.receive(helper, text));
    // A helper that cannot start or dies fails what it was asked; it is not tried again.
    child.on('error', (error) => this.lost(helper, `cannot run ${this.command}: ${error.message}`));
    child.on('close', (code, signal) => this.lost(helper, `${this.command} helper exited (${signal ?? code})`));
    child.stdin.on('error', () => undefined);
    keepAlive(helper, false);
    return helper;
  }

  private receive(helper: Helper, text: string): void {
    helper.answer += text;
    let end: number;
    while ((end = helper.answer.indexOf('\n')) >= 0) {
      const line = helper.answer.slice(0, end);
      helper.answer = helper.answer.slice(end + 1);
      const waiting = helper.pending.shift();
      if (!waiting) continue;
      if (helper.pending.length === 0) keepAlive(helper, false);
      const space = line.indexOf(' ');
      const errno = Number(line.slice(0, space));
      if (errno === 0) waiting.resolve();
      else waiting.reject(syncError(errno, line.slice(space + 1)));
    }
  }

  private lost(helper: Helper, reason: string): void {
    if (this.helper === helper) this.helper = undefined;
    const unanswered = helper.pending.splice(0);
    if (helper.retired && unanswered.length === 0) return;
    if (this.unavailable === undefined) {
      this.unavailable = reason;
      this.log.warn({ reason }, 'syncfs helper unavailable; staged messages are fsynced one by one');
    }
    for (const waiting of unanswered) waiting.reject(new FilesystemSyncUnavailable(reason));
  }
}

let shared: FilesystemSync | undefined;

/** The process's one helper: it serves every store and file system. */
export function sharedFilesystemSync(log: FilesystemSyncLogger): FilesystemSync {
  return (shared ??= new FilesystemSync(log));
}

/** A helper keeps the process alive only while it owes an answer; its stdin closing at exit ends it. */
function keepAlive(helper: Helper, on: boolean): void {
  for (const handle of [helper.child, helper.child.stdin, helper.child.stdout] as unknown as { ref?: () => void; unref?: () => void }[]) {
    if (on) handle.ref?.();
    else handle.unref?.();
  }
}

function syncError(errno: number, path: string): Error {
  const code = ERRNO_NAMES.get(errno) ?? `E${errno}`;
  return Object.assign(new Error(`syncfs failed on ${path}: ${code}`), { code, errno, path });
}
