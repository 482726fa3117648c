/** Startup check of LDAP filter templates, so a typo is a config error and not a stream of failed logins. */

/** null when the template is a plausible filter; otherwise what is wrong (checked at startup). */
export function filterTemplateProblem(template: string, required: readonly string[] = ['u']): string | null {
  const trimmed = template.trim();
  if (!trimmed.startsWith('(') || !trimmed.endsWith(')')) return 'must be enclosed in parentheses';
  let depth = 0;
  for (let i = 0; i < trimmed.length; i++) {
    const c = trimmed[i];
    if (c === '\\') i += 2;
    else if (c === '(') depth++;
    else if (c === ')' && --depth < 0) return 'has an unmatched ")"';
  }
  if (depth !== 0) return 'has an unmatched "("';
  const missing = required.filter((key) => !trimmed.includes(`%${key}`));
  return missing.length ? `must contain ${missing.map((key) => `%${key}`).join(', ')}` : null;
}
