/**
 * Where a message from a domain-wide mailbox goes: each envelope recipient is resolved to local
 * users; whatever does not resolve goes, once, to the default address (POPFetch pf_dflt_address,
 * else postmaster as CommuniGate Pro does) with a note; with nowhere to go it is a dud.
 */
import type { Envelope } from './envelope.ts';
import { composeNote, type Failure } from './note-text.ts';

export interface RoutingPolicy {
  /** Domains that count as local; empty: every domain does (as the Directory's domains file). */
  readonly localDomains: readonly string[];
  /** POPFetch pf_domain: a recipient in a non-local domain is re-addressed to this domain. */
  readonly rewriteDomain: string | null;
  /** POPFetch pf_dflt_address; null → 'postmaster'. */
  readonly defaultAddress: string | null;
  /** '*' mode (CommuniGate Pro): To/Cc/Bcc strangers are silently ignored, not sent to the default. */
  readonly onlyKnown: boolean;
}

/** Directory.expandAlias: local user names and external forwards (with '@'); [] when unknown. May throw. */
export type Resolve = (address: string) => Promise<string[]>;

export interface RoutingDecision {
  /** Local user → the original recipient addresses that led there. */
  readonly deliveries: ReadonlyMap<string, readonly string[]>;
  /** Addresses that went nowhere: recipients, and external forwards mailnode does not relay. */
  readonly unresolved: readonly string[];
  /** The default address (or postmaster) gets one copy, with `note` added. */
  readonly toDefault: boolean;
  /** Local users the default address resolves to; empty unless toDefault. */
  readonly defaultUsers: readonly string[];
  /** The paragraph for the default copy (null when there is no default copy). */
  readonly note: string | null;
  /** Deliverable nowhere, not even to the default address: the caller saves it to the duds Maildir. */
  readonly dud: boolean;
}

export const POSTMASTER = 'postmaster';

interface RecipientOutcome {
  readonly recipient: string;
  readonly users: readonly string[];
  readonly failures: readonly Failure[];
}

export async function routeMessage(envelope: Envelope, policy: RoutingPolicy, resolve: Resolve): Promise<RoutingDecision> {
  const outcomes: RecipientOutcome[] = [];
  for (const recipient of envelope.recipients) outcomes.push(await routeRecipient(recipient, policy, resolve));
  const deliveries = collectDeliveries(outcomes);
  const failures = outcomes.flatMap((o) => o.failures);
  // '*' mode: a stranger in To/Cc is normal, not a failure worth a copy (CommuniGate Pro); but a
  // message nobody accepted still goes to the default address rather than vanishing.
  const wantsDefault = deliveries.size === 0 || (!policy.onlyKnown && failures.length > 0);
  const defaultUsers = wantsDefault ? localUsersOf(await resolve(policy.defaultAddress ?? POSTMASTER)) : [];
  const toDefault = defaultUsers.length > 0;
  const delivered = outcomes.filter((o) => o.users.length > 0).map((o) => o.recipient);
  return {
    deliveries,
    unresolved: failures.map((f) => f.address),
    toDefault,
    defaultUsers,
    note: toDefault ? composeNote({ delivered, failures, onlyKnown: policy.onlyKnown }) : null,
    dud: deliveries.size === 0 && !toDefault,
  };
}

async function routeRecipient(recipient: string, policy: RoutingPolicy, resolve: Resolve): Promise<RecipientOutcome> {
  const address = localAddressOf(recipient, policy);
  if (address === null) return { recipient, users: [], failures: [{ address: recipient, reason: 'not in a local domain' }] };
  const targets = await resolve(address);
  const users = localUsersOf(targets);
  const forwards = targets.filter((t) => t.includes('@'));
  return { recipient, users, failures: failuresOf(recipient, users, forwards) };
}

/**
 * mailnode has no outbound relay for multidrop mail, so an alias's external forwards are not
 * delivered: the recipient failed when it had nothing else, else the forward itself is reported.
 */
function failuresOf(recipient: string, users: readonly string[], forwards: readonly string[]): Failure[] {
  const notRelayed = 'mailnode does not relay mail to other hosts';
  if (users.length > 0) return forwards.map((f) => ({ address: f, reason: `forward from ${recipient}; ${notRelayed}` }));
  if (forwards.length > 0) return [{ address: recipient, reason: `forwards to ${forwards.join(', ')}; ${notRelayed}` }];
  return [{ address: recipient, reason: 'no such local user or alias' }];
}

/**
 * The address to resolve, or null when the recipient is not ours. A non-local domain is
 * re-addressed to rewriteDomain (POPFetch pf_domain: john@isp.example → john@branch.local), but
 * not in '*' mode, where To/Cc hold strangers that must not become local users by rewriting.
 */
function localAddressOf(recipient: string, policy: RoutingPolicy): string | null {
  const at = recipient.lastIndexOf('@');
  if (at === -1) return recipient; // a bare local part (sendmail's `X-Real-To: $u`)
  if (isLocalDomain(recipient.slice(at + 1), policy.localDomains)) return recipient;
  if (policy.rewriteDomain === null || policy.onlyKnown) return null;
  return `${recipient.slice(0, at)}@${policy.rewriteDomain}`;
}

function isLocalDomain(domain: string, localDomains: readonly string[]): boolean {
  if (localDomains.length === 0) return true;
  const wanted = canonicalDomain(domain);
  return localDomains.some((d) => canonicalDomain(d) === wanted);
}

const canonicalDomain = (domain: string) => domain.trim().toLowerCase().replace(/\.$/, '');

/** resolve() returns local user names bare and external forwards with '@'. */
function localUsersOf(targets: readonly string[]): string[] {
  return [...new Set(targets.filter((t) => !t.includes('@')))];
}

function collectDeliveries(outcomes: readonly RecipientOutcome[]): Map<string, string[]> {
  const deliveries = new Map<string, string[]>();
  for (const { recipient, users } of outcomes) {
    for (const user of users) {
      const via = deliveries.get(user) ?? [];
      if (!via.includes(recipient)) via.push(recipient);
      deliveries.set(user, via);
    }
  }
  return deliveries;
}
