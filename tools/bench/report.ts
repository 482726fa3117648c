/**
 * What a benchmark section returns, how the results table is printed, and what the machine is.
 * A section compares mailnode with a reference peer line by line; each line may carry an aim
 * (e.g. "ratio >= 4") that is checked and printed as met / NOT met.
 */
import { cpus, release, totalmem, availableParallelism } from 'node:os';
import { dovecotVersion } from '../../test/harness/dovecot.ts';

export interface Aim {
  /** Printed, e.g. ">= 4x Dovecot". */
  readonly text: string;
  readonly check: (ratio: number) => boolean;
}

export interface Row {
  readonly metric: string;
  readonly mailnode: number | null;
  readonly peer: number | null;
  /** How to print the values (unit, extra detail such as latency percentiles). */
  readonly unit?: string;
  readonly mailnodeDetail?: string;
  readonly peerDetail?: string;
  readonly aim?: Aim;
  /** Digits after the decimal point for the values. */
  readonly digits?: number;
  /** The two values are context, not a comparison: no ratio column. */
  readonly noRatio?: boolean;
}

export interface SectionResult {
  readonly section: string;
  readonly title: string;
  /** Name of the reference column, e.g. "Dovecot 2.3 (perf)". */
  readonly peerName: string;
  /** Name of the measured column; "mailnode" when absent (a section comparing mailnode with itself names the variant). */
  readonly subjectName?: string;
  readonly rows: readonly Row[];
  readonly notes: readonly string[];
  /** Raw measurements, for --json. */
  readonly details: unknown;
}

export interface BenchContext {
  readonly repoRoot: string;
  readonly quick: boolean;
  readonly keep: boolean;
  readonly cpuProfDir?: string;
  readonly nofile: number;
  readonly log: (line: string) => void;
}

export interface Section {
  readonly name: string;
  readonly description: string;
  run(ctx: BenchContext): Promise<SectionResult>;
}

export function ratioOf(row: Row): number | null {
  if (row.noRatio) return null;
  if (row.mailnode === null || row.peer === null || !Number.isFinite(row.mailnode) || !Number.isFinite(row.peer) || row.peer === 0) return null;
  return row.mailnode / row.peer;
}

function fmt(value: number | null, digits = 1): string {
  if (value === null || !Number.isFinite(value)) return 'n/a';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }).replaceAll(',', ' ');
}

function cell(value: number | null, unit: string | undefined, detail: string | undefined, digits: number | undefined): string {
  return `${fmt(value, digits)}${unit ? ` ${unit}` : ''}${detail ? ` (${detail})` : ''}`;
}

export function aimVerdict(row: Row): string {
  if (!row.aim) return '';
  const ratio = ratioOf(row);
  if (ratio === null) return `${row.aim.text}: n/a`;
  return `${row.aim.text}: ${row.aim.check(ratio) ? 'met' : 'NOT met'}`;
}

/** A Markdown table (also readable as plain text). */
export function formatTable(result: SectionResult): string {
  const subject = result.subjectName ?? 'mailnode';
  const header = ['metric', subject, result.peerName, `${subject}/peer`, 'aim'];
  const lines = result.rows.map((row) => {
    const ratio = ratioOf(row);
    return [
      row.metric,
      cell(row.mailnode, row.unit, row.mailnodeDetail, row.digits),
      cell(row.peer, row.unit, row.peerDetail, row.digits),
      ratio === null ? (row.noRatio ? '' : 'n/a') : `${ratio >= 10 ? ratio.toFixed(1) : ratio.toFixed(2)}x`,
      aimVerdict(row),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const row = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [row(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.map(row)].join('\n');
}

export interface MachineInfo {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly kernel: string;
  readonly node: string;
  readonly dovecot: string | null;
  readonly uid: number | null;
}

export function machineInfo(): MachineInfo {
  return {
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    dovecot: dovecotVersion(),
    uid: process.getuid?.() ?? null,
  };
}

export function formatMachine(m: MachineInfo): string {
  return `${m.cpus} CPU (${m.cpuModel}), ${m.memoryGiB} GiB RAM, Linux ${m.kernel}, Node ${m.node}, Dovecot ${m.dovecot ?? 'not installed'}${m.uid === 0 ? ', as root' : ''}`;
}
