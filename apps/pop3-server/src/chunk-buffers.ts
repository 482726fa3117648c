/**
 * Buffers for sending large messages: a read chunk and its encoded form (at most twice as
 * long). Connections borrow a pair for one message and give it back once the socket has taken
 * the last chunk, so a large RETR allocates nothing per chunk (which at 64 KiB chunks used to
 * make garbage collection a fifth of the work) and idle sessions hold no buffers at all.
 */
export const CHUNK_BYTES = 64 * 1024;
/** Pairs kept for reuse; more concurrent large transfers than this allocate (and free) their own. */
export const POOLED_CHUNK_BUFFERS = 16;

export interface ChunkBuffers {
  readonly input: Buffer;
  readonly output: Buffer;
}

const pool: ChunkBuffers[] = [];

export function borrowChunkBuffers(): ChunkBuffers {
  return pool.pop() ?? { input: Buffer.allocUnsafeSlow(CHUNK_BYTES), output: Buffer.allocUnsafeSlow(2 * CHUNK_BYTES) };
}

/** Only once no write still refers to them. */
export function returnChunkBuffers(buffers: ChunkBuffers): void {
  if (pool.length < POOLED_CHUNK_BUFFERS) pool.push(buffers);
}
