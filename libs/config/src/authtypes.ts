/** The Mailismus login methods, plus SASL LOGIN which real clients (Outlook) still use. */
export const AUTH_TYPES = ['USERPASS', 'APOP', 'SASL_PLAIN', 'SASL_LOGIN', 'SASL_CRAM_MD5', 'SASL_EXTERNAL'] as const;
export type AuthType = (typeof AUTH_TYPES)[number];

/**
 * Parses `USERPASS | APOP | SASL_PLAIN`, a YAML list, `all` or `-` (none).
 * Returns the set, or an error text naming the bad entry.
 */
export function parseAuthTypes(value: unknown): ReadonlySet<AuthType> | string {
  const items = Array.isArray(value) ? value : typeof value === 'string' ? value.split(/[|,\s]+/) : null;
  if (!items) return 'a list of login methods separated by |';
  const words = items.map((item) => String(item).trim().toUpperCase()).filter(Boolean);
  if (words.length === 1 && words[0] === 'ALL') return new Set(AUTH_TYPES);
  if (words.length === 1 && words[0] === '-') return new Set();
  const result = new Set<AuthType>();
  for (const word of words) {
    if (!(AUTH_TYPES as readonly string[]).includes(word)) return `one of ${AUTH_TYPES.join(', ')}, all or - (got '${word}')`;
    result.add(word as AuthType);
  }
  return result;
}
