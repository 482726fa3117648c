/** Latency samples per operation, and their percentiles (nearest-rank), for the load test. */

export interface Percentiles {
  readonly count: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

export class LatencyRecorder {
  private readonly samples = new Map<string, number[]>();

  record(operation: string, ms: number): void {
    const list = this.samples.get(operation);
    if (list) list.push(ms);
    else this.samples.set(operation, [ms]);
  }

  /** Runs `fn`, records how long it took under `operation`, returns its result. */
  async time<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    const start = performance.now();
    const result = await fn();
    this.record(operation, performance.now() - start);
    return result;
  }

  count(operation: string): number {
    return this.samples.get(operation)?.length ?? 0;
  }

  summary(): Record<string, Percentiles> {
    const out: Record<string, Percentiles> = {};
    for (const [operation, list] of this.samples) out[operation] = percentiles(list);
    return out;
  }
}

/** Nearest-rank percentiles in ms, rounded to 0.01 ms. */
export function percentiles(values: readonly number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!);
  const round = (n: number) => Math.round(n * 100) / 100;
  const mean = sorted.length === 0 ? 0 : sorted.reduce((sum, v) => sum + v, 0) / sorted.length;
  return { count: sorted.length, p50: round(at(50)), p95: round(at(95)), p99: round(at(99)), max: round(sorted.at(-1) ?? 0), mean: round(mean) };
}

/** A fixed-width table of the summary, for the console. */
export function formatTable(summary: Record<string, Percentiles>): string {
  const rows = [['operation', 'count', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms']];
  for (const [operation, p] of Object.entries(summary)) rows.push([operation, String(p.count), String(p.p50), String(p.p95), String(p.p99), String(p.max)]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')).join('\n');
}
