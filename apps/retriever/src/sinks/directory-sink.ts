/**
 * Download-as-file mode (`downloads_directory`): one file per message, written under a hidden
 * temp name, fsynced, renamed to `<unique>.eml`, then one directory fsync per batch.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { DeliveryMeta, DeliverySink, StagedDelivery } from '@mailnode/pop3-client-session';
import { fsyncDirectory } from '@mailnode/maildir';
import { writeSource } from './write-source.ts';

let counter = 0;

export class DirectorySink implements DeliverySink {
  readonly dir: string;

  constructor(template: string, recip: string) {
    this.dir = template.replaceAll('%U%', recip);
  }

  async prepare(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
  }

  async stage(source: AsyncIterable<Buffer> | Buffer, meta: DeliveryMeta): Promise<StagedDelivery> {
    const name = `${Math.floor(Date.now() / 1000)}.P${process.pid}Q${++counter}R${randomBytes(4).toString('hex')}.eml`;
    const temp = this.tempPath(name);
    const handle = await open(temp, 'wx', 0o600);
    let bytes: number;
    try {
      bytes = await writeSource(handle, source);
      await handle.sync();
    } catch (error) {
      await handle.close().catch(() => {});
      await unlink(temp).catch(() => {});
      throw error;
    }
    await handle.close();
    return { uidl: meta.uidl, bytes, ref: name };
  }

  async publish(staged: readonly StagedDelivery[]): Promise<void> {
    for (const item of staged) await rename(this.tempPath(item.ref), join(this.dir, item.ref));
    await fsyncDirectory(this.dir);
  }

  async discard(staged: readonly StagedDelivery[]): Promise<void> {
    await Promise.all(staged.map((item) => unlink(this.tempPath(item.ref)).catch(() => {})));
  }

  async resolvePending(ref: string): Promise<'delivered' | 'not-delivered'> {
    if (await exists(join(this.dir, ref))) return 'delivered';
    if (!(await exists(this.tempPath(ref)))) return 'not-delivered';
    await this.publish([{ uidl: '', bytes: 0, ref }]);
    return 'delivered';
  }

  describe(): string {
    return `directory:${this.dir}`;
  }

  private tempPath(name: string): string {
    return join(this.dir, `.tmp-${name}`);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
