/**
 * `mailnode fetch --once` output: on a terminal, one live progress bar per client (messages and
 * bytes); without one, plain lines when each client finishes.
 */
import type { ProgressReport } from '@mailnode/pop3-client-session';

const BAR_WIDTH = 24;
const REDRAW_MS = 100;

const megabytes = (bytes: number) => (bytes / 1_000_000).toFixed(1);

export class ProgressDisplay {
  private readonly rows = new Map<string, string>();
  private drawn = 0;
  private lastDraw = 0;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly clientIds: readonly string[],
  ) {}

  get live(): boolean {
    return Boolean(this.out.isTTY);
  }

  update(clientId: string, progress: ProgressReport): void {
    if (!this.live) return;
    const share = progress.total ? progress.done / progress.total : 1;
    const filled = Math.round(share * BAR_WIDTH);
    this.rows.set(
      clientId,
      `${clientId.padEnd(16)} [${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${progress.done}/${progress.total} msgs  ${megabytes(progress.doneBytes)}/${megabytes(progress.totalBytes)} MB`,
    );
    const now = Date.now();
    if (now - this.lastDraw >= REDRAW_MS || progress.done === progress.total) this.draw(now);
  }

  finish(clientId: string, line: string): void {
    if (this.live) {
      this.rows.set(clientId, line);
      this.draw(Date.now());
    } else {
      this.out.write(`${line}\n`);
    }
  }

  private draw(now: number): void {
    this.lastDraw = now;
    if (this.drawn) this.out.write(`\x1b[${this.drawn}A`);
    const lines = this.clientIds.map((id) => this.rows.get(id) ?? `${id.padEnd(16)} connecting...`);
    this.out.write(lines.map((line) => `\x1b[2K${line}\n`).join(''));
    this.drawn = lines.length;
  }
}
