/**
 * The aliases file: `alias:recipient1:recipient2...` per line. A recipient is a local name or
 * a full address; whether an address is local is decided at expansion time (domains can change).
 */
import { significantLines } from './directory-lines.ts';
import type { LineProblem, ParsedDirectoryFile } from './directory-lines.ts';
import { domainProblem, localPartProblem, normaliseDomain } from './names.ts';

/** Alias name (lower-cased) → recipients (lower-cased, deduplicated, file order). */
export type AliasTable = ReadonlyMap<string, readonly string[]>;

export function parseAliasesFile(text: string): ParsedDirectoryFile<AliasTable> {
  const aliases = new Map<string, readonly string[]>();
  const problems: LineProblem[] = [];
  for (const { line, text: content } of significantLines(text)) {
    const [rawName = '', ...rawTargets] = content.split(':');
    const name = rawName.toLowerCase();
    const problem =
      localPartProblem(name) ??
      (aliases.has(name) ? `duplicate alias '${name}' (the first entry is kept)` : null) ??
      (rawTargets.length === 0 ? 'alias has no recipients' : null) ??
      rawTargets.map((target) => recipientProblem(target.trim().toLowerCase())).find((p) => p !== null) ??
      null;
    if (problem) {
      problems.push({ line, reason: problem });
      continue;
    }
    aliases.set(name, [...new Set(rawTargets.map((target) => normaliseRecipient(target)))]);
  }
  return { value: aliases, problems };
}

function normaliseRecipient(target: string): string {
  const lower = target.trim().toLowerCase();
  const at = lower.lastIndexOf('@');
  return at === -1 ? lower : `${lower.slice(0, at)}@${normaliseDomain(lower.slice(at + 1))}`;
}

function recipientProblem(target: string): string | null {
  if (target === '') return 'empty recipient';
  const at = target.lastIndexOf('@');
  if (at === -1) return prefixed(target, localPartProblem(target));
  return prefixed(target, localPartProblem(target.slice(0, at)) ?? domainProblem(normaliseDomain(target.slice(at + 1))));
}

function prefixed(target: string, problem: string | null): string | null {
  return problem === null ? null : `recipient '${target}': ${problem}`;
}
