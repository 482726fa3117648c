import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MessageContent } from '@mailnode/message-store';

/** A fresh directory under the OS temp dir; remove it with `rm(dir)` in afterEach. */
export async function makeTempRoot(): Promise<string> {
  return await mkdtemp(join(tmpdir(), 'mailnode-maildir-'));
}

export async function removeTempRoot(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

export function maildirOf(root: string, user: string): string {
  return join(root, user, 'Maildir');
}

export async function namesIn(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch {
    return [];
  }
}

export async function contentBytes(content: MessageContent): Promise<Buffer> {
  if (content.kind === 'buffer') return content.data;
  const chunks: Buffer[] = [];
  try {
    // A small, odd chunk size: several reads per message, none aligned with anything.
    for (;;) {
      const chunk = Buffer.alloc(7001);
      const n = await content.reader.read(chunk);
      if (n === 0) return Buffer.concat(chunks);
      chunks.push(chunk.subarray(0, n));
    }
  } finally {
    content.reader.close();
  }
}

/** Yields `data` cut at the given offsets, as a network download would. */
export async function* chunked(data: Uint8Array, cuts: readonly number[]): AsyncGenerator<Uint8Array> {
  let start = 0;
  for (const cut of [...new Set(cuts)].filter((c) => c > 0 && c < data.length).sort((a, b) => a - b)) {
    yield data.subarray(start, cut);
    start = cut;
  }
  yield data.subarray(start);
}

/** Reference conversion, byte by byte: CRLF→LF, lone CR kept. */
export function referenceCrlfToLf(data: Uint8Array): Buffer {
  const out: number[] = [];
  for (let i = 0; i < data.length; i++) {
    if (data[i] === 13 && data[i + 1] === 10) continue;
    out.push(data[i]!);
  }
  return Buffer.from(out);
}

/** Reference wire size: every LF not preceded by CR gains a CR. */
export function referenceWireSize(stored: Uint8Array): number {
  let size = stored.length;
  for (let i = 0; i < stored.length; i++) if (stored[i] === 10 && (i === 0 || stored[i - 1] !== 13)) size++;
  return size;
}
