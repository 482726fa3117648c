/** Delivery into a local user's Maildir inbox through the Message-Store (the default mode). */
import type { Directory } from '@mailnode/directory';
import type { MessageStore, StagedMessage } from '@mailnode/message-store';
import { RetrievalError, type DeliveryMeta, type DeliverySink, type StagedDelivery } from '@mailnode/pop3-client-session';

export class MaildirSink implements DeliverySink {
  private user: string | undefined;
  private readonly inner = new WeakMap<StagedDelivery, StagedMessage>();

  constructor(
    private readonly store: MessageStore,
    private readonly directory: Directory,
    private readonly recip: string,
  ) {}

  async prepare(): Promise<void> {
    const user = await this.directory.lookupUser(this.recip);
    if (!user) throw new RetrievalError('recip', `recip '${this.recip}' is not a user in the Directory; nothing downloaded`);
    // The Directory may place the mailbox elsewhere below the store root (LDAP mailbox attribute).
    this.user = user.mailbox ?? user.name;
  }

  async stage(source: AsyncIterable<Buffer> | Buffer, meta: DeliveryMeta): Promise<StagedDelivery> {
    const staged = await this.store.stage(this.requireUser(), source, { crlf: true });
    const delivery: StagedDelivery = { uidl: meta.uidl, bytes: staged.wireSize, ref: JSON.stringify({ user: staged.user, id: staged.id }) };
    this.inner.set(delivery, staged);
    return delivery;
  }

  publish(staged: readonly StagedDelivery[]): Promise<void> {
    return this.store.publish(staged.map((item) => this.inner.get(item)!));
  }

  discard(staged: readonly StagedDelivery[]): Promise<void> {
    return this.store.discard(staged.flatMap((item) => (this.inner.has(item) ? [this.inner.get(item)!] : [])));
  }

  async resolvePending(ref: string): Promise<'delivered' | 'not-delivered'> {
    const { user, id } = JSON.parse(ref) as { user: string; id: string };
    return this.store.recover(user, id);
  }

  describe(): string {
    return `maildir:${this.user ?? this.recip}`;
  }

  private requireUser(): string {
    if (!this.user) throw new Error('MaildirSink.prepare() was not called');
    return this.user;
  }
}
