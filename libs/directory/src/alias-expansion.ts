/**
 * Recursive alias expansion, backend-neutral: the backend supplies lookups, this decides what
 * an address ends up delivering to.
 */

/** Nesting limit: deeper chains are almost certainly configuration mistakes. */
export const MAX_ALIAS_DEPTH = 16;

export interface AliasLookups {
  /** Recipients of a (lower-cased) alias, or undefined when it is not an alias. */
  aliasTargets(name: string): readonly string[] | undefined;
  isUser(name: string): boolean;
  isLocalDomain(domain: string): boolean;
}

export interface ExpansionResult {
  readonly recipients: string[];
  /** Aliases whose expansion stopped at MAX_ALIAS_DEPTH. */
  readonly truncatedAt: string[];
}

/**
 * Expands `address` (a local name or an address) to local user names and external addresses.
 * - Local domains are stripped; names are lower-cased.
 * - An alias shadows a user of the same name (as /etc/aliases does).
 * - A target in a non-local domain is an external forward and is returned as-is, but an
 *   *input* in a non-local domain yields []: only an administrator's alias may forward mail
 *   away, a foreign address handed to us is simply not ours.
 * - Loops are cut by a visited set; unknown local names contribute nothing.
 */
export function expandAddress(address: string, lookups: AliasLookups): ExpansionResult {
  const recipients = new Set<string>();
  const truncatedAt: string[] = [];
  const visited = new Set<string>();

  const visit = (name: string, depth: number): void => {
    if (visited.has(name)) return;
    visited.add(name);
    const targets = lookups.aliasTargets(name);
    if (targets === undefined) {
      if (lookups.isUser(name)) recipients.add(name);
      return;
    }
    if (depth >= MAX_ALIAS_DEPTH) {
      truncatedAt.push(name);
      return;
    }
    for (const target of targets) {
      const resolved = localNameOf(target, lookups);
      if (resolved === null) recipients.add(target.toLowerCase());
      else visit(resolved, depth + 1);
    }
  };

  const start = localNameOf(address.trim(), lookups);
  if (start !== null && start !== '') visit(start, 0);
  return { recipients: [...recipients], truncatedAt };
}

/** The local name for an address, or null when its domain is not local. */
function localNameOf(address: string, lookups: AliasLookups): string | null {
  const lower = address.toLowerCase();
  const at = lower.lastIndexOf('@');
  if (at === -1) return lower;
  const domain = lower.slice(at + 1).replace(/\.$/, '');
  return lookups.isLocalDomain(domain) ? lower.slice(0, at) : null;
}
