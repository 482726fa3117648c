import type { FileHandle } from 'node:fs/promises';

/** Writes a message (one buffer, or chunks as they arrive) into an open file; returns its size. */
export async function writeSource(handle: FileHandle, source: AsyncIterable<Buffer> | Buffer): Promise<number> {
  if (Buffer.isBuffer(source)) {
    await handle.writeFile(source);
    return source.length;
  }
  let bytes = 0;
  for await (const chunk of source) {
    await handle.write(chunk);
    bytes += chunk.length;
  }
  return bytes;
}
