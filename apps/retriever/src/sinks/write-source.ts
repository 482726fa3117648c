import type { FileHandle } from 'node:fs/promises';
import { writeAll } from '@mailnode/maildir';

/**
 * Writes a message (one buffer, or chunks as they arrive) into an open file; returns its size.
 * Short writes (a filling disk) are continued, so a file is either whole or the write fails.
 */
export async function writeSource(handle: FileHandle, source: AsyncIterable<Buffer> | Buffer): Promise<number> {
  if (Buffer.isBuffer(source)) {
    await writeAll(handle, source);
    return source.length;
  }
  let bytes = 0;
  for await (const chunk of source) {
    await writeAll(handle, chunk);
    bytes += chunk.length;
  }
  return bytes;
}
