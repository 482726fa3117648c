/** The domains file: one local domain per line, case-insensitive, a trailing root dot allowed. */
import { significantLines } from './directory-lines.ts';
import type { LineProblem, ParsedDirectoryFile } from './directory-lines.ts';
import { domainProblem, normaliseDomain } from './names.ts';

export type DomainSet = ReadonlySet<string>;

export function parseDomainsFile(text: string): ParsedDirectoryFile<DomainSet> {
  const domains = new Set<string>();
  const problems: LineProblem[] = [];
  for (const { line, text: content } of significantLines(text)) {
    const domain = normaliseDomain(content);
    const problem = domainProblem(domain) ?? (domains.has(domain) ? `duplicate domain '${domain}'` : null);
    if (problem) {
      problems.push({ line, reason: problem });
      continue;
    }
    domains.add(domain);
  }
  return { value: domains, problems };
}
