/**
 * Recursive alias expansion, backend-neutral: the backend supplies lookups, this decides what
 * an address ends up delivering to.
 */

/** Nesting limit: deeper chains are almost certainly configuration mistakes. */
export const MAX_ALIAS_DEPTH = 16;

type MaybePromise<T> = T | Promise<T>;

/** Lookups may be synchronous (tables in memory) or asynchronous (LDAP queries). */
export interface AliasLookups {
  /** Recipients of a (lower-cased) alias, or undefined when it is not an alias. */
  aliasTargets(name: string): MaybePromise<readonly string[] | undefined>;
  isUser(name: string): MaybePromise<boolean>;
  isLocalDomain(domain: string): MaybePromise<boolean>;
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
export async function expandAddress(address: string, lookups: AliasLookups): Promise<ExpansionResult> {
  const recipients = new Set<string>();
  const truncatedAt: string[] = [];
  const visited = new Set<string>();

  const visit = async (name: string, depth: number): Promise<void> => {
    if (visited.has(name)) return;
    visited.add(name);
    const targets = await lookups.aliasTargets(name);
    if (targets === undefined) {
      if (await lookups.isUser(name)) recipients.add(name);
      return;
    }
    if (depth >= MAX_ALIAS_DEPTH) {
      truncatedAt.push(name);
      return;
    }
    for (const target of targets) {
      const resolved = await localNameOf(target, lookups);
      if (resolved === null) recipients.add(target.toLowerCase());
      else await visit(resolved, depth + 1);
    }
  };

  const start = await localNameOf(address.trim(), lookups);
  if (start !== null && start !== '') await visit(start, 0);
  return { recipients: [...recipients], truncatedAt };
}

/** The local name for an address, or null when its domain is not local. */
async function localNameOf(address: string, lookups: AliasLookups): Promise<string | null> {
  const lower = address.toLowerCase();
  const at = lower.lastIndexOf('@');
  if (at === -1) return lower;
  const domain = lower.slice(at + 1).replace(/\.$/, '');
  return (await lookups.isLocalDomain(domain)) ? lower.slice(0, at) : null;
}
