/**
 * A client's durable record of UIDLs (`<uidl_dir>/<client-id>.uidl`): an append-only journal of
 * JSON lines, fsynced before the caller goes on. `P` = publish started, `D` = delivered. A torn
 * last line (crash mid-append) is ignored; compaction rewrites the file atomically.
 */
import { mkdir, open, readFile, rename, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { UidlLedger } from '@mailnode/pop3-client-session';
import { fsyncDirectory, writeAll } from '@mailnode/maildir';
import { RetrievalError } from '@mailnode/pop3-client-session';

type Entry = { p: string; r: string } | { d: string };

export class FileLedger implements UidlLedger {
  private handle: FileHandle | undefined;
  private delivered = new Set<string>();
  private pending = new Map<string, string>();
  /** The file may end in a torn line (crash or failed append): start the next append on a new line. */
  private torn = false;

  constructor(private readonly path: string) {}

  static forClient(dir: string, clientId: string): FileLedger {
    return new FileLedger(join(dir, `${clientId}.uidl`));
  }

  async load() {
    this.delivered = new Set();
    this.pending = new Map();
    let text = '';
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    this.torn = text.length > 0 && !text.endsWith('\n');
    for (const line of text.split('\n')) {
      if (!line) continue;
      let entry: Entry;
      try {
        entry = JSON.parse(line) as Entry;
      } catch {
        continue;
      }
      if ('d' in entry) {
        this.delivered.add(entry.d);
        this.pending.delete(entry.d);
      } else if (!this.delivered.has(entry.p)) this.pending.set(entry.p, entry.r);
    }
    return { delivered: this.delivered, pending: this.pending };
  }

  async markPending(entries: ReadonlyArray<{ uidl: string; ref: string }>): Promise<void> {
    if (entries.length === 0) return;
    await this.append(entries.map(({ uidl, ref }) => ({ p: uidl, r: ref })));
    for (const { uidl, ref } of entries) this.pending.set(uidl, ref);
  }

  async markDelivered(uidls: readonly string[]): Promise<void> {
    if (uidls.length === 0) return;
    await this.append(uidls.map((uidl) => ({ d: uidl })));
    for (const uidl of uidls) {
      this.delivered.add(uidl);
      this.pending.delete(uidl);
    }
  }

  async compact(onServer: ReadonlySet<string>): Promise<void> {
    const keep = [...this.delivered].filter((uidl) => onServer.has(uidl));
    // Pending entries are kept: their fate is only settled by the next run's recovery.
    const lines = [...keep.map((uidl) => ({ d: uidl })), ...[...this.pending].map(([p, r]) => ({ p, r }))];
    await this.close();
    const temp = `${this.path}.tmp`;
    const handle = await open(temp, 'w', 0o600);
    try {
      await handle.writeFile(lines.map((entry) => `${JSON.stringify(entry)}\n`).join(''));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, this.path);
    this.torn = false;
    await fsyncDirectory(dirname(this.path));
    this.delivered = new Set(keep);
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close();
  }

  /**
   * A failed append (disk full) is a local delivery failure: nothing more is published or
   * deleted in this run. The record may be torn; the next append starts on a new line, and the
   * next load ignores the torn one.
   */
  private async append(entries: Entry[]): Promise<void> {
    try {
      if (!this.handle) {
        await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
        this.handle = await open(this.path, 'a', 0o600);
        await fsyncDirectory(dirname(this.path));
      }
      const text = entries.map((entry) => `${JSON.stringify(entry)}\n`).join('');
      const prefix = this.torn ? '\n' : '';
      // Until the write is whole and synced, the file may end in a torn line.
      this.torn = true;
      await writeAll(this.handle, Buffer.from(prefix + text, 'utf8'));
      await this.handle.datasync();
      this.torn = false;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new RetrievalError('deliver', `cannot record downloaded UIDLs in ${this.path}: ${code === 'ENOSPC' ? 'disk full (ENOSPC)' : (error as Error).message}`, {
        cause: error,
        code,
      });
    }
  }
}
