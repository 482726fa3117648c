/**
 * A mailbox location from the directory (e.g. `example.org/alice`): a path relative to the
 * message store root. Anything that could leave the root is refused.
 */
export function mailboxLocationProblem(location: string): string | null {
  if (location === '') return 'empty';
  if (location.length > 255) return 'longer than 255 characters';
  if (location.startsWith('/') || location.startsWith('\\')) return 'absolute paths are not accepted (give it relative to the mail root)';
  for (const segment of location.split('/')) {
    if (segment === '' || segment === '.' || segment === '..') return `segment '${segment}' not allowed`;
    if (segment.startsWith('.')) return 'segments must not start with a dot';
    if (/[\p{Cc}\\]/u.test(segment)) return 'contains control characters or backslashes';
  }
  return null;
}
