import { multiLine } from './reply.ts';

/** Server side: the CAPA response (RFC 2449), e.g. formatCapa(['TOP', 'UIDL', 'SASL PLAIN']). */
export function formatCapa(list: readonly string[]): string {
  return multiLine('Capability list follows', list);
}

const WHITESPACE = /[ \t]+/;

/**
 * Client side: the lines of a CAPA response (terminator already removed) as
 * capability name (uppercased) -> arguments. Blank lines are skipped; if a server repeats a
 * capability, the first one counts.
 */
export function parseCapa(lines: string[]): Map<string, string[]> {
  const caps = new Map<string, string[]>();
  for (const line of lines) {
    const tokens = line.trim().split(WHITESPACE);
    const name = tokens[0];
    if (!name) continue;
    const key = name.toUpperCase();
    if (!caps.has(key)) caps.set(key, tokens.slice(1));
  }
  return caps;
}
