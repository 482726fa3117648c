/**
 * Validation of user names, alias names and domains. User names become Maildir directory names
 * and log fields, so anything that could escape a path or forge a log line is refused.
 */

// RFC 5322 dot-atom characters: no '/', '\\', ':', '@', whitespace or control characters.
const LOCAL_PART = /^[a-z0-9!#$%&'*+=?^_`{|}~.-]+$/;
const MAX_LOCAL_PART = 64;
const DOMAIN_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
const MAX_DOMAIN = 253;

/** null when `name` (already lower-cased) is a usable user or alias name. */
export function localPartProblem(name: string): string | null {
  if (name === '') return 'empty name';
  if (name.length > MAX_LOCAL_PART) return `name longer than ${MAX_LOCAL_PART} characters`;
  if (/[\s\p{Cc}]/u.test(name)) return 'name contains whitespace or control characters';
  if (!LOCAL_PART.test(name)) return 'name contains characters outside a-z 0-9 . and !#$%&\'*+-=?^_`{|}~';
  if (name.startsWith('.') || name.endsWith('.') || name.includes('..')) return "name starts or ends with '.' or contains '..'";
  return null;
}

/** Lower-case, without a trailing root dot. */
export function normaliseDomain(domain: string): string {
  const lower = domain.trim().toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/** null when `domain` (normalised) is a syntactically valid host name. */
export function domainProblem(domain: string): string | null {
  if (domain === '') return 'empty domain';
  if (domain.length > MAX_DOMAIN) return `domain longer than ${MAX_DOMAIN} characters`;
  if (!domain.split('.').every((label) => DOMAIN_LABEL.test(label))) return 'domain is not a valid host name';
  return null;
}
