/** Mailismus writes booleans as Y/N; YAML users write true/false. Both are accepted. */
export function parseYesNo(value: unknown): boolean | null {
  if (typeof value === 'boolean') return value;
  if (typeof value !== 'string') return null;
  const word = value.trim().toLowerCase();
  if (['y', 'yes', 'true', 'on'].includes(word)) return true;
  if (['n', 'no', 'false', 'off'].includes(word)) return false;
  return null;
}
