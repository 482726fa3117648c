/**
 * Domain-wide (multidrop) delivery: each message is routed by its envelope recipients to local
 * users' Maildirs; what cannot be routed goes once to the default address with a note, and what
 * can go nowhere is a dud, saved to the duds Maildir (never dropped). After `max_duds` duds in
 * a row the client stops taking mail (POPFetch's safety net): further messages stay on the server.
 *
 * A message becomes one staged copy per recipient; the copies of a batch are published together,
 * and after a crash every copy is settled from the ledger's reference (tmp/ → new/, exactly once).
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { RetrieverClientConfig } from '@mailnode/config';
import type { Directory } from '@mailnode/directory';
import type { MessageStore, StagedMessage } from '@mailnode/message-store';
import { RetrievalError, type DeliveryMeta, type DeliverySink, type StagedDelivery } from '@mailnode/pop3-client-session';
import {
  addDeliveryNote,
  addNoteHeader,
  HEADER_ADDRESSES,
  PollDeduplicator,
  readEnvelope,
  routeMessage,
  splitHeader,
  stripEnvelopeFields,
  type Envelope,
  type RoutingDecision,
  type RoutingPolicy,
} from '../multidrop/index.ts';
import { writeSource } from './write-source.ts';

type DomainWideSettings = NonNullable<RetrieverClientConfig['domainwide']>;

/** What a client remembers between runs: duds in a row (POPFetch counts across polls). */
export interface DomainWideState {
  consecutiveDuds: number;
}

export interface DomainWideLog {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface DomainWideSinkOptions {
  readonly clientId: string;
  readonly settings: DomainWideSettings;
  readonly store: MessageStore;
  /** Rooted at `settings.duds`: the client's duds land in `<duds>/<client id>/Maildir`. */
  readonly duds: MessageStore;
  readonly directory: Directory;
  /** Large messages are spooled here once, then copied to each recipient. */
  readonly spoolDir: string;
  readonly state: DomainWideState;
  readonly log: DomainWideLog;
}

/** Longest header block read from a spooled (large) message; beyond it the message is a dud. */
const MAX_HEADER_BYTES = 1024 * 1024;

interface Copy {
  readonly store: 'mail' | 'duds';
  readonly staged: StagedMessage;
}

export class DomainWideSink implements DeliverySink {
  private readonly copies = new WeakMap<StagedDelivery, readonly Copy[]>();
  private readonly seen = new PollDeduplicator();
  private readonly policy: RoutingPolicy;
  private readonly localDomains: ReadonlySet<string>;

  constructor(private readonly options: DomainWideSinkOptions) {
    const { settings } = options;
    this.localDomains = new Set(settings.localdomains.map((domain) => domain.toLowerCase()));
    this.policy = {
      localDomains: settings.localdomains,
      rewriteDomain: settings.domain ?? null,
      defaultAddress: settings.dflt_address ?? null,
      onlyKnown: settings.header === HEADER_ADDRESSES,
    };
  }

  async prepare(): Promise<void> {
    if (this.tripped()) {
      throw new RetrievalError('deliver', `deactivated after ${this.options.settings.max_duds} duds in a row; see the duds Maildir`);
    }
    await mkdir(this.options.spoolDir, { recursive: true, mode: 0o700 });
  }

  async stage(source: AsyncIterable<Buffer> | Buffer, meta: DeliveryMeta): Promise<StagedDelivery> {
    // Once tripped, nothing more is taken: the rest stays on the server for a person to look at.
    if (this.tripped()) throw new RetrievalError('deliver', `${this.options.settings.max_duds} duds in a row: client deactivated`);
    if (Buffer.isBuffer(source)) return this.stageMessage(new BufferedMessage(source), meta);
    const spooled = await SpooledMessage.write(this.options.spoolDir, source);
    try {
      return await this.stageMessage(spooled, meta);
    } finally {
      await spooled.remove();
    }
  }

  async publish(staged: readonly StagedDelivery[]): Promise<void> {
    const copies = staged.flatMap((item) => this.copies.get(item) ?? []);
    await this.options.store.publish(copies.filter((copy) => copy.store === 'mail').map((copy) => copy.staged));
    await this.options.duds.publish(copies.filter((copy) => copy.store === 'duds').map((copy) => copy.staged));
  }

  async discard(staged: readonly StagedDelivery[]): Promise<void> {
    const copies = staged.flatMap((item) => this.copies.get(item) ?? []);
    await this.options.store.discard(copies.filter((copy) => copy.store === 'mail').map((copy) => copy.staged));
    await this.options.duds.discard(copies.filter((copy) => copy.store === 'duds').map((copy) => copy.staged));
  }

  async resolvePending(ref: string): Promise<'delivered' | 'not-delivered'> {
    const entries = JSON.parse(ref) as { store: 'mail' | 'duds'; user: string; id: string }[];
    let delivered = true;
    for (const entry of entries) {
      const store = entry.store === 'duds' ? this.options.duds : this.options.store;
      if ((await store.recover(entry.user, entry.id)) !== 'delivered') delivered = false;
    }
    return delivered ? 'delivered' : 'not-delivered';
  }

  describe(): string {
    return `domainwide:${this.options.clientId}`;
  }

  private tripped(): boolean {
    return this.options.state.consecutiveDuds >= this.options.settings.max_duds;
  }

  private async stageMessage(message: MessageSource, meta: DeliveryMeta): Promise<StagedDelivery> {
    const header = await message.headerBlock(this.options.settings.header);
    const decision = header === null ? null : await this.route(header);
    const copies: Copy[] = [];
    try {
      if (header === null || decision === null || decision.dud) {
        copies.push({ store: 'duds', staged: await this.options.duds.stage(this.options.clientId, message.whole(), { crlf: true }) });
        this.countDud(meta, header === null ? 'header unreadable' : 'no recipient and no default address resolves');
      } else {
        this.options.state.consecutiveDuds = 0;
        const { fields, envelope } = header;
        const { messageId, sender } = envelope;
        const prefix = returnPath(sender);
        const clean = (bytes: Uint8Array) => Buffer.concat([prefix, stripEnvelopeFields(bytes, fields, this.options.settings.header)]);
        for (const user of decision.deliveries.keys()) {
          if (this.seen.has(messageId, user)) continue;
          this.seen.remember(messageId, user);
          copies.push(await this.stageFor(user, message.withHeader(clean(header.block))));
        }
        for (const user of decision.defaultUsers) {
          // The default address gets one copy per message too, however often it arrived.
          if (this.seen.has(messageId, user)) continue;
          this.seen.remember(messageId, user);
          const noted = decision.note === null ? null : await message.withNote(decision.note, clean);
          copies.push(await this.stageFor(user, noted ?? message.withHeader(clean(header.block))));
        }
      }
    } catch (error) {
      await this.discard([this.remember(meta, copies)]).catch(() => {});
      throw error;
    }
    return this.remember(meta, copies);
  }

  private remember(meta: DeliveryMeta, copies: readonly Copy[]): StagedDelivery {
    const ref = JSON.stringify(copies.map((copy) => ({ store: copy.store, user: copy.staged.user, id: copy.staged.id })));
    const bytes = copies.reduce((sum, copy) => Math.max(sum, copy.staged.wireSize), 0);
    const delivery: StagedDelivery = { uidl: meta.uidl, bytes, ref };
    this.copies.set(delivery, copies);
    return delivery;
  }

  private async route(header: ParsedHeader): Promise<RoutingDecision> {
    return routeMessage(header.envelope, this.policy, (address) => this.options.directory.expandAlias(this.localPartIfLocal(address)));
  }

  /** The Directory knows its own local domains; ours (`localdomains`) are stripped before asking it. */
  private localPartIfLocal(address: string): string {
    const at = address.lastIndexOf('@');
    return at !== -1 && this.localDomains.has(address.slice(at + 1).toLowerCase()) ? address.slice(0, at) : address;
  }

  private async stageFor(user: string, source: AsyncIterable<Buffer> | Buffer): Promise<Copy> {
    const entry = await this.options.directory.lookupUser(user);
    if (!entry) throw new RetrievalError('deliver', `routed to '${user}', who is not a user in the Directory`);
    return { store: 'mail', staged: await this.options.store.stage(entry.mailbox ?? entry.name, source, { crlf: true }) };
  }

  private countDud(meta: DeliveryMeta, why: string): void {
    const { state, settings, clientId, log } = this.options;
    state.consecutiveDuds++;
    log.warn({ uidl: meta.uidl, why, duds: state.consecutiveDuds }, 'saved a dud (undeliverable message) to the duds Maildir');
    if (state.consecutiveDuds >= settings.max_duds) {
      log.error(
        { client: clientId, duds: state.consecutiveDuds, max_duds: settings.max_duds },
        `DEACTIVATING retriever client ${clientId}: ${state.consecutiveDuds} undeliverable messages in a row (max_duds); remaining mail stays on the server`,
      );
    }
  }
}

function returnPath(sender: string | null): Buffer {
  // Like a local delivery agent: the envelope sender is recorded at the top, old Return-Paths removed.
  return sender === null ? Buffer.alloc(0) : Buffer.from(`Return-Path: <${sender}>\r\n`, 'latin1');
}

interface ParsedHeader {
  /** The header block including the empty line that ends it. */
  readonly block: Buffer;
  readonly fields: ReturnType<typeof splitHeader>['fields'];
  /** Recipients by the configured envelope header, sender from Return-Path, Message-ID. */
  readonly envelope: Envelope;
}

/** A downloaded message, in memory or spooled to a file. */
interface MessageSource {
  /** null when no header block can be found (within MAX_HEADER_BYTES for spooled messages). */
  headerBlock(envelopeHeader: string): Promise<ParsedHeader | null>;
  whole(): AsyncIterable<Buffer> | Buffer;
  /** The message with its header block replaced by `header`. */
  withHeader(header: Buffer): AsyncIterable<Buffer> | Buffer;
  /** The cleaned message with a delivery note added (in the body when it fits in memory). */
  withNote(note: string, clean: (bytes: Uint8Array) => Buffer): Promise<Buffer | AsyncIterable<Buffer>>;
}

function parseHeader(bytes: Buffer, envelopeHeader: string): ParsedHeader | null {
  const end = headerEnd(bytes);
  if (end === -1) return null;
  const block = bytes.subarray(0, end);
  const { fields } = splitHeader(block);
  return { block, fields, envelope: readEnvelope(fields, envelopeHeader) };
}

/** Offset just after the empty line ending the header block, or -1. */
function headerEnd(bytes: Buffer): number {
  const crlf = bytes.indexOf('\r\n\r\n');
  const lf = bytes.indexOf('\n\n');
  if (crlf === -1 && lf === -1) return -1;
  if (lf === -1 || (crlf !== -1 && crlf < lf)) return crlf + 4;
  return lf + 2;
}

class BufferedMessage implements MessageSource {
  constructor(private readonly bytes: Buffer) {}

  async headerBlock(envelopeHeader: string): Promise<ParsedHeader | null> {
    return parseHeader(this.bytes, envelopeHeader);
  }

  whole(): Buffer {
    return this.bytes;
  }

  withHeader(header: Buffer): Buffer {
    return Buffer.concat([header, this.bytes.subarray(headerEnd(this.bytes))]);
  }

  async withNote(note: string, clean: (bytes: Uint8Array) => Buffer): Promise<Buffer> {
    return Buffer.from(addDeliveryNote(clean(this.bytes), note));
  }
}

/** A large message, written once to the spool so each copy can stream from disk. */
class SpooledMessage implements MessageSource {
  private parsed: ParsedHeader | null | undefined;

  private constructor(private readonly path: string) {}

  static async write(dir: string, source: AsyncIterable<Buffer>): Promise<SpooledMessage> {
    const path = join(dir, `${Date.now()}.${process.pid}.${randomBytes(6).toString('hex')}`);
    const handle = await open(path, 'wx', 0o600);
    try {
      await writeSource(handle, source);
    } catch (error) {
      await handle.close().catch(() => {});
      await unlink(path).catch(() => {});
      throw error;
    }
    await handle.close();
    return new SpooledMessage(path);
  }

  async headerBlock(envelopeHeader: string): Promise<ParsedHeader | null> {
    if (this.parsed !== undefined) return this.parsed;
    const handle = await open(this.path, 'r');
    try {
      const buffer = Buffer.alloc(MAX_HEADER_BYTES);
      const { bytesRead } = await handle.read(buffer, 0, MAX_HEADER_BYTES, 0);
      const parsed = parseHeader(buffer.subarray(0, bytesRead), envelopeHeader);
      // Keep a copy of the header block only, not the whole 1 MiB read buffer.
      this.parsed = parsed && { ...parsed, block: Buffer.from(parsed.block) };
      return this.parsed;
    } finally {
      await handle.close();
    }
  }

  whole(): AsyncIterable<Buffer> {
    return createReadStream(this.path);
  }

  withHeader(header: Buffer): AsyncIterable<Buffer> {
    const bodyStart = this.parsed!.block.length;
    const path = this.path;
    return (async function* () {
      yield header;
      yield* createReadStream(path, { start: bodyStart }) as AsyncIterable<Buffer>;
    })();
  }

  /** Too large to rewrite in memory: the note goes into a header field, the body streams as is. */
  async withNote(note: string, clean: (bytes: Uint8Array) => Buffer): Promise<AsyncIterable<Buffer>> {
    return this.withHeader(Buffer.from(addNoteHeader(clean(this.parsed!.block), note)));
  }

  async remove(): Promise<void> {
    await unlink(this.path).catch(() => {});
  }
}
