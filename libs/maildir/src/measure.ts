import { createReadStream } from 'node:fs';
import { SizeCounter } from './crlf.ts';

export interface MeasuredSize {
  readonly size: number;
  readonly wireSize: number;
}

/** Reads a file once, streaming, to learn the sizes a foreign deliverer did not put in its name. */
export async function measureFile(path: string): Promise<MeasuredSize> {
  const counter = new SizeCounter();
  for await (const chunk of createReadStream(path, { highWaterMark: 64 * 1024 })) {
    counter.add(chunk as Buffer);
  }
  return { size: counter.size, wireSize: counter.wireSize };
}
