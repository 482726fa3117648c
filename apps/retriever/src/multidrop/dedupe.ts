/**
 * Within one poll, a message sent to several local users may sit in the domain-wide mailbox once
 * per recipient, each copy routed to all of them (CommuniGate Pro warns of this in '*' mode;
 * fetchmail suppresses such duplicates by Message-ID). Deliver it once per user.
 * Call remember() after a successful delivery, so a failed one is not taken for a duplicate.
 */
export class PollDeduplicator {
  private readonly usersById = new Map<string, Set<string>>();

  /** Whether `user` already got this Message-ID during this poll; never for a message without one. */
  has(messageId: string | null, user: string): boolean {
    const id = normalise(messageId);
    return id !== null && (this.usersById.get(id)?.has(user) ?? false);
  }

  remember(messageId: string | null, user: string): void {
    const id = normalise(messageId);
    if (id === null) return;
    const users = this.usersById.get(id) ?? new Set<string>();
    users.add(user);
    this.usersById.set(id, users);
  }
}

function normalise(messageId: string | null): string | null {
  const id = messageId?.trim() ?? '';
  return id === '' || id === '<>' ? null : id;
}
