/**
 * The download as one pipelined command stream. RETRs of the next batches and DELEs of stored
 * ones share the pipeline window, and replies are read in the order the commands went out. A
 * batch that has been read commits (wait for its fsyncs, ledger "pending", publish with one
 * directory fsync, ledger "delivered") while the RETRs of the next batch go on, so the link and
 * the server are not idle during the syncs; its DELEs are sent only once that commit is done.
 *
 * At most two batches are open (read or being read, not yet committed), which bounds the
 * staged files; staging itself is bounded by `stageConcurrency`. After a delivery failure
 * nothing more is staged or published: the replies still due are read past, the DELEs of the
 * batches stored before it still go out, and the failure ends the download.
 */
import { expectOk, type RemoteMessage } from './commands.ts';
import { Pop3ReplyError, RetrievalError } from './errors.ts';
import type { AuditSink, ClientLog, DeliveryMeta, DeliverySink, Pop3Transport, StagedDelivery, UidlLedger } from './ports.ts';
import { receiveMessage, skipBody, type ReceiveOptions } from './receive-message.ts';

export interface PipelineOptions extends Omit<ReceiveOptions, 'wantMessageId'> {
  readonly preserve: boolean;
  /** Commands in flight; 1 means lock-step (no PIPELINING). */
  readonly window: number;
  /** Staging writes (file write + fsync) running at once. */
  readonly stageConcurrency: number;
  readonly audit?: AuditSink;
  readonly log: ClientLog;
  /** Called as each message is staged (its bytes as stored). */
  readonly onStaged?: (message: RemoteMessage, bytes: number) => void;
}

export interface PipelineCounts {
  fetched: number;
  bytes: number;
  deleted: number;
}

interface StagedEntry {
  readonly message: RemoteMessage;
  readonly staged: StagedDelivery;
  readonly messageId?: string;
}

/** How one message's staging ended; never a rejected promise, so nothing goes unhandled. */
type StagingOutcome = { readonly entry: StagedEntry } | { readonly error: unknown };

interface Batch {
  readonly index: number;
  readonly messages: readonly RemoteMessage[];
  /** One per message the server sent (refused ones have none). */
  readonly stagings: Promise<StagingOutcome>[];
  /** Replies read so far; the commit starts when all are. */
  read: number;
  commitStarted: boolean;
}

type Command = { readonly verb: 'RETR'; readonly batch: Batch; readonly message: RemoteMessage } | { readonly verb: 'DELE'; readonly message: RemoteMessage };

export class DownloadPipeline {
  readonly counts: PipelineCounts = { fetched: 0, bytes: 0, deleted: 0 };
  private readonly batches: Batch[];
  /** Sent, reply not read yet, oldest first. */
  private readonly inFlight: Command[] = [];
  /** Stored (or delivered by an earlier run), DELE not sent yet. */
  private readonly deletes: RemoteMessage[];
  private deletesSent = 0;
  /** The next RETR to send: batch index and message index in it. */
  private sendBatch = 0;
  private sendMessage = 0;
  /** Batches committed so far (commits run in batch order). */
  private committed = 0;
  private commitsRunning = 0;
  /** The chain of commits; never rejects. */
  private commits: Promise<void> = Promise.resolve();
  private readonly stagings = new Set<Promise<StagingOutcome>>();
  /** Index of the first batch that failed to be stored; it and later ones are not published. */
  private failedAt = Number.POSITIVE_INFINITY;
  private failure: unknown;
  private readonly receiveOptions: ReceiveOptions;

  constructor(
    private readonly transport: Pop3Transport,
    batches: readonly (readonly RemoteMessage[])[],
    /** Messages delivered by an earlier run: deleted first, without fetching them again. */
    deleteFirst: readonly RemoteMessage[],
    private readonly sink: DeliverySink,
    private readonly ledger: UidlLedger,
    private readonly options: PipelineOptions,
  ) {
    this.batches = batches.map((messages, index) => ({ index, messages, stagings: [], read: 0, commitStarted: false }));
    this.deletes = options.preserve ? [] : [...deleteFirst];
    this.receiveOptions = { ...options, wantMessageId: options.audit !== undefined };
  }

  /** Resolves when everything is stored and deleted; rejects with the first failure. */
  async run(): Promise<void> {
    try {
      await this.exchange();
    } catch (error) {
      // The link is gone. A commit under way finishes (what it publishes is recorded and simply
      // deleted by the next run); batches still being read are thrown away.
      await this.settle();
      throw error instanceof RetrievalError ? error : new RetrievalError('download', `download failed: ${(error as Error).message}`, { cause: error });
    }
    await this.settle();
    if (this.failure !== undefined) throw this.failure;
  }

  private get failed(): boolean {
    return this.failedAt !== Number.POSITIVE_INFINITY;
  }

  /** RETRs are still due: sent and unanswered, or not sent yet. */
  private get fetching(): boolean {
    return (!this.failed && this.sendBatch < this.batches.length) || this.inFlight.some((command) => command.verb === 'RETR');
  }

  private async exchange(): Promise<void> {
    for (;;) {
      this.fill();
      const command = this.inFlight.shift();
      if (command?.verb === 'RETR') await this.readRetr(command.batch, command.message);
      else if (command) await this.readDele(command.message);
      else if (this.commitsRunning > 0) await this.commits; // its DELEs, or the next batch, come next
      else return;
    }
  }

  /**
   * Sends commands while the window has room: DELEs first (they free the server), then RETRs.
   * The window is topped up only once half of it is free, so commands leave in runs (one write,
   * one packet) rather than one per reply, and the server still always has half a window queued.
   */
  private fill(): void {
    const { window } = this.options;
    if (this.inFlight.length > window - Math.max(1, window >> 1)) return;
    while (this.inFlight.length < window) {
      if (this.deletesSent < this.deletes.length) {
        const message = this.deletes[this.deletesSent++]!;
        this.transport.send(`DELE ${message.number}`);
        this.inFlight.push({ verb: 'DELE', message });
        continue;
      }
      if (this.failed || this.sendBatch >= this.batches.length || this.sendBatch > this.committed + 1) return;
      const batch = this.batches[this.sendBatch]!;
      const message = batch.messages[this.sendMessage]!;
      this.transport.send(`RETR ${message.number}`);
      this.inFlight.push({ verb: 'RETR', batch, message });
      if (++this.sendMessage === batch.messages.length) {
        this.sendBatch++;
        this.sendMessage = 0;
      }
    }
  }

  private async readRetr(batch: Batch, message: RemoteMessage): Promise<void> {
    const status = await this.transport.readStatus();
    if ('continuation' in status || !status.ok) {
      // Gone meanwhile (another client) or refused: not staged, so never deleted.
      this.options.log.warn({ number: message.number, uidl: message.uidl, reply: status.text }, 'RETR refused; message skipped');
    } else if (this.failed) {
      await skipBody(this.transport, this.options.maxMessageBytes);
    } else {
      const meta: DeliveryMeta = { uidl: message.uidl ?? `#${message.number}`, number: message.number, listedSize: message.size };
      const { staging, messageId } = await receiveMessage(this.transport, message, meta, this.sink, this.receiveOptions);
      const outcome = staging.then(
        (staged): StagingOutcome => {
          this.options.onStaged?.(message, staged.bytes);
          return { entry: { message, staged, messageId } };
        },
        (error: unknown): StagingOutcome => {
          // Stop fetching at once; the batch's commit throws away what it did stage.
          this.fail(batch, new RetrievalError('deliver', `cannot store message: ${(error as Error).message}`, { cause: error }));
          return { error };
        },
      );
      batch.stagings.push(outcome);
      this.stagings.add(outcome);
      void outcome.then(() => this.stagings.delete(outcome));
    }
    if (++batch.read === batch.messages.length) this.startCommit(batch);
    while (this.stagings.size >= this.options.stageConcurrency) await Promise.race(this.stagings);
  }

  private async readDele(message: RemoteMessage): Promise<void> {
    try {
      await expectOk(this.transport, 'DELE');
      this.counts.deleted++;
    } catch (error) {
      // A link lost while messages are still to be fetched ended the download, whichever reply was next.
      if (error instanceof RetrievalError && this.fetching) throw error;
      if (!(error instanceof Pop3ReplyError)) throw new RetrievalError('delete', `DELE failed: ${(error as Error).message}`, { cause: error });
      // Stored and recorded already: the next run deletes it without fetching it again.
      this.options.log.warn({ number: message.number, uidl: message.uidl, reply: error.text }, 'DELE refused; message stays on the server until the next run');
    }
  }

  private startCommit(batch: Batch): void {
    batch.commitStarted = true;
    this.commitsRunning++;
    this.commits = this.commits
      .then(() => this.commit(batch))
      .catch((error: unknown) => this.fail(batch, error instanceof RetrievalError ? error : new RetrievalError('deliver', (error as Error).message, { cause: error })))
      .finally(() => this.commitsRunning--);
  }

  /** Ledger "pending", publish, ledger "delivered"; then the batch may be deleted. */
  private async commit(batch: Batch): Promise<void> {
    const staged = await this.stagedOf(batch);
    if (staged === undefined || batch.index >= this.failedAt) {
      await this.discard(staged ?? (await this.stagedOnly(batch)));
      return;
    }
    const keyed = staged.filter((entry) => entry.message.uidl);
    try {
      await this.ledger.markPending(keyed.map(({ message, staged: item }) => ({ uidl: message.uidl!, ref: item.ref })));
      await this.sink.publish(staged.map((entry) => entry.staged));
    } catch (error) {
      await this.discard(staged);
      throw new RetrievalError('deliver', `delivery failed: ${(error as Error).message}`, { cause: error });
    }
    // Published: if this fails, the "pending" record lets the next run settle it. Not deleted now.
    await this.ledger.markDelivered(keyed.map(({ message }) => message.uidl!));
    for (const { message, staged: item, messageId } of staged) {
      this.options.audit?.delivered({ uidl: message.uidl ?? `#${message.number}`, bytes: item.bytes, messageId, destination: this.sink.describe() });
      this.counts.fetched++;
      this.counts.bytes += item.bytes;
      if (!this.options.preserve) this.deletes.push(message);
    }
    this.committed++;
  }

  /** The batch's staged messages, or undefined when one of its stagings failed. */
  private async stagedOf(batch: Batch): Promise<StagedEntry[] | undefined> {
    const outcomes = await Promise.all(batch.stagings);
    const staged: StagedEntry[] = [];
    for (const outcome of outcomes) {
      if ('error' in outcome) return undefined;
      staged.push(outcome.entry);
    }
    return staged;
  }

  private async stagedOnly(batch: Batch): Promise<StagedEntry[]> {
    return (await Promise.all(batch.stagings)).flatMap((outcome) => ('entry' in outcome ? [outcome.entry] : []));
  }

  private async discard(entries: readonly StagedEntry[]): Promise<void> {
    if (entries.length) await this.sink.discard(entries.map((entry) => entry.staged)).catch(() => {});
  }

  private fail(batch: Batch, error: unknown): void {
    if (batch.index < this.failedAt) this.failedAt = batch.index;
    this.failure ??= error;
  }

  /** Waits for the commits, then throws away what batches that never reached a commit staged. */
  private async settle(): Promise<void> {
    await this.commits;
    for (const batch of this.batches) if (!batch.commitStarted) await this.discard(await this.stagedOnly(batch));
  }
}
