/** An append-only text log (transcript, audit) whose path may carry date tokens and so rotate. */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import { expandDatedPath, hasDateTokens } from './dated-path.ts';

/** Lines are dropped rather than buffered without bound when the disk cannot keep up. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

export class LineLog {
  private stream: WriteStream | undefined;
  private currentPath = '';
  private readonly rotates: boolean;
  dropped = 0;

  constructor(private readonly template: string) {
    this.rotates = hasDateTokens(template);
  }

  write(line: string, now = new Date()): void {
    const stream = this.streamFor(now);
    if (stream.writableLength > MAX_BUFFERED_BYTES) {
      this.dropped++;
      return;
    }
    stream.write(line.endsWith('\n') ? line : `${line}\n`);
  }

  async close(): Promise<void> {
    const stream = this.stream;
    this.stream = undefined;
    if (stream) await new Promise<void>((done) => stream.end(done));
  }

  private streamFor(now: Date): WriteStream {
    const path = this.rotates ? expandDatedPath(this.template, now) : this.template;
    if (this.stream && path === this.currentPath) return this.stream;
    this.stream?.end();
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.currentPath = path;
    this.stream = createWriteStream(path, { flags: 'a', mode: 0o600 });
    this.stream.on('error', () => {
      // A broken log must not take the mail service down; the next date reopens it.
      this.stream = undefined;
    });
    return this.stream;
  }
}
