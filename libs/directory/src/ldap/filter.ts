/**
 * LDAP search filters from configured templates. Every substituted value is escaped per
 * RFC 4515 section 3, so no login name or address can change the filter's structure.
 */

/** RFC 4515: `*`, `(`, `)`, `\` and NUL must be escaped; other control bytes are escaped too, for logs. */
export function escapeFilterValue(value: string): string {
  let out = '';
  for (const char of value) {
    const code = char.codePointAt(0)!;
    if (char === '*' || char === '(' || char === ')' || char === '\\' || code < 0x20 || code === 0x7f) {
      out += `\\${code.toString(16).padStart(2, '0')}`;
    } else {
      out += char;
    }
  }
  return out;
}

export type FilterValues = Readonly<Record<string, string>>;

/**
 * Replaces `%u` (and any other `%x` named in `values`) with the escaped value; `%%` is a
 * literal percent sign. Placeholders missing from `values` are left as they are so a
 * template problem shows up in the LDAP server's answer, not as a silent empty match.
 */
export function fillFilter(template: string, values: FilterValues): string {
  return template.replace(/%([%a-z])/g, (whole, key: string) => {
    if (key === '%') return '%';
    const value = values[key];
    return value === undefined ? whole : escapeFilterValue(value);
  });
}

/**
 * The filter with `%u` meaning "any value": `(uid=%u)` becomes the presence filter `(uid=*)`.
 * Used to restrict alias searches to the same entries the user filter selects.
 */
export function anyValueFilter(template: string, placeholder = 'u'): string {
  return template.replaceAll(`%${placeholder}`, '*');
}

/** `(|(a=v1)(a=v2)(b=v1)...)` for every attribute and value, escaped; null when there is nothing to match. */
export function anyOf(attributes: readonly string[], values: readonly string[]): string | null {
  const terms = attributes.flatMap((attribute) => values.map((value) => `(${attribute}=${escapeFilterValue(value)})`));
  if (terms.length === 0) return null;
  return terms.length === 1 ? terms[0]! : `(|${terms.join('')})`;
}
