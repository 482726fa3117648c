/**
 * Shared line handling for the Directory files: blank lines and '#' comments are skipped, CRLF
 * files work, and problems carry 1-based line numbers so a warning points at the exact line.
 */

export interface LineProblem {
  /** 1-based line number in the file. */
  readonly line: number;
  readonly reason: string;
}

export interface ParsedDirectoryFile<T> {
  readonly value: T;
  readonly problems: readonly LineProblem[];
}

export interface SignificantLine {
  readonly line: number;
  readonly text: string;
}

export function significantLines(text: string): SignificantLine[] {
  const out: SignificantLine[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    out.push({ line: index + 1, text: line });
  });
  return out;
}
