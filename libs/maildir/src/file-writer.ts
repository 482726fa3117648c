import { writeSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';

const BATCH_BYTES = 64 * 1024;

/**
 * Writes all of `data`, looping over short writes: a filling disk first shortens a write, and
 * only the next one fails with ENOSPC. A write that makes no progress is treated as disk full.
 */
export async function writeAll(handle: FileHandle, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    const { bytesWritten } = await handle.write(data, offset, data.length - offset, null);
    if (bytesWritten <= 0) throw Object.assign(new Error('no space left on device (write made no progress)'), { code: 'ENOSPC' });
    offset += bytesWritten;
  }
}

/** writeAll on a plain descriptor, synchronously (small messages written on the main thread). */
export function writeAllSync(fd: number, data: Uint8Array): void {
  let offset = 0;
  while (offset < data.length) {
    const bytesWritten = writeSync(fd, data, offset, data.length - offset);
    if (bytesWritten <= 0) throw Object.assign(new Error('no space left on device (write made no progress)'), { code: 'ENOSPC' });
    offset += bytesWritten;
  }
}

/**
 * Coalesces the small chunks a network download yields (often one line each) into 64 KiB
 * writes, so memory stays bounded and syscalls stay few whatever the message size.
 */
export class BatchedWriter {
  private readonly batch = Buffer.allocUnsafe(BATCH_BYTES);
  private filled = 0;

  constructor(private readonly handle: FileHandle) {}

  async write(data: Uint8Array): Promise<void> {
    if (data.length === 0) return;
    if (this.filled + data.length > BATCH_BYTES) await this.flush();
    if (data.length >= BATCH_BYTES) {
      await writeAll(this.handle, data);
      return;
    }
    this.batch.set(data, this.filled);
    this.filled += data.length;
  }

  async flush(): Promise<void> {
    if (this.filled === 0) return;
    const pending = this.batch.subarray(0, this.filled);
    this.filled = 0;
    await writeAll(this.handle, pending);
  }
}
