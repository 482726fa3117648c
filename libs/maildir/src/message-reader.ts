import { readSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { MessageReader } from '@mailnode/message-store';
import type { SyncIoGate } from './sync-io-gate.ts';

/**
 * A large message read chunk by chunk into the caller's buffer: on the main thread while the
 * gate says reads are fast (see SyncIoGate), on the thread pool otherwise.
 */
export class FileMessageReader implements MessageReader {
  private position = 0;
  private closed = false;

  constructor(
    private readonly handle: FileHandle,
    private readonly gate: SyncIoGate,
    /** Turns an I/O error into the store's error for this message. */
    private readonly failure: (error: unknown) => Error,
  ) {}

  async read(into: Buffer): Promise<number> {
    if (this.closed) throw new Error('message reader is closed');
    let bytesRead: number;
    try {
      if (this.gate.open) bytesRead = this.gate.timed(() => readSync(this.handle.fd, into, 0, into.length, this.position));
      else ({ bytesRead } = await this.handle.read(into, 0, into.length, this.position));
    } catch (error) {
      throw this.failure(error);
    }
    this.position += bytesRead;
    return bytesRead;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handle.close().catch(() => undefined);
  }
}
