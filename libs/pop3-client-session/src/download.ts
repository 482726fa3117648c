/**
 * The download loop: RETR (pipelined when the server allows), stage each message durably,
 * then per batch — ledger "pending", publish (one directory fsync), ledger "delivered" — and
 * only then DELE. A message is never deleted on the server before it is safe here.
 */
import { PassThrough } from 'node:stream';
import { expectOk, type RemoteMessage } from './commands.ts';
import { Pop3ReplyError, RetrievalError, withPartialResult } from './errors.ts';
import type { AuditSink, ClientLog, DeliveryMeta, DeliverySink, Pop3Transport, ProgressReport, StagedDelivery, UidlLedger } from './ports.ts';

export interface DownloadOptions {
  readonly preserve: boolean;
  /** Commands in flight; 1 means lock-step (no PIPELINING). */
  readonly window: number;
  /** Group commit: publish and DELE after this many messages or bytes. */
  readonly batchMessages: number;
  readonly batchBytes: number;
  /** A message larger than this ends the session (hostile or broken server). */
  readonly maxMessageBytes: number;
  /** Messages up to this size are staged from one buffer; larger ones stream. */
  readonly bufferBytes: number;
  /** Staging writes (file write + fsync) running at once. */
  readonly stageConcurrency: number;
  readonly receivedHeader?: (message: RemoteMessage) => string;
  readonly onProgress?: (progress: ProgressReport) => void;
  readonly audit?: AuditSink;
  readonly log: ClientLog;
}

export interface DownloadResult {
  readonly fetched: number;
  readonly bytes: number;
  readonly deleted: number;
  /** Already delivered in an earlier run (ledger), not fetched again. */
  readonly known: number;
}

export async function downloadAll(
  transport: Pop3Transport,
  messages: readonly RemoteMessage[],
  sink: DeliverySink,
  ledger: UidlLedger,
  options: DownloadOptions,
): Promise<DownloadResult> {
  const delivered = await settleLedger(sink, ledger, options.log);
  const fresh = messages.filter((message) => !message.uidl || !delivered.has(message.uidl));
  const known = messages.filter((message) => message.uidl && delivered.has(message.uidl));
  const progress = { total: fresh.length, totalBytes: fresh.reduce((sum, m) => sum + m.size, 0), done: 0, doneBytes: 0 };
  options.onProgress?.({ ...progress });

  let deleted = 0;
  // Messages delivered by a run that died before QUIT: delete them now, without fetching again.
  if (!options.preserve && known.length) deleted += await deleteMessages(transport, known, options.window, options.log);

  let fetched = 0;
  let bytes = 0;
  // The last DELEs of a stored batch are answered behind the next batch's first RETRs (within the
  // pipeline window): the DELE round trip overlaps the next download instead of stalling it.
  let unanswered: RemoteMessage[] = [];
  const settleDeletes = async () => {
    const waiting = unanswered;
    unanswered = [];
    deleted += await readDeleteReplies(transport, waiting, options.log);
  };
  try {
  for (const batch of batches(fresh, options.batchMessages, options.batchBytes)) {
    const staged = await retrieveBatch(transport, batch, sink, options, (message, size) => {
      progress.done++;
      progress.doneBytes += size;
      options.onProgress?.({ ...progress });
    }, { count: unanswered.length, read: settleDeletes });
    const keyed = staged.filter((entry) => entry.message.uidl);
    try {
      await ledger.markPending(keyed.map(({ message, staged }) => ({ uidl: message.uidl!, ref: staged.ref })));
      await sink.publish(staged.map((entry) => entry.staged));
    } catch (error) {
      await sink.discard(staged.map((entry) => entry.staged)).catch(() => {});
      throw new RetrievalError('deliver', `delivery failed: ${(error as Error).message}`, { cause: error });
    }
    await ledger.markDelivered(keyed.map(({ message }) => message.uidl!));
    for (const { message, staged: item, messageId } of staged) {
      options.audit?.delivered({ uidl: message.uidl ?? `#${message.number}`, bytes: item.bytes, messageId, destination: sink.describe() });
      fetched++;
      bytes += item.bytes;
    }
    if (!options.preserve) {
      const sent = await deleteLeavingTail(transport, staged.map((entry) => entry.message), options.window, options.log);
      deleted += sent.deleted;
      unanswered = sent.unanswered;
    }
  }
  await settleDeletes();
  } catch (error) {
    // What earlier batches stored and deleted still counts, in the summary and the status.
    throw withPartialResult(error, { fetched, bytes, deleted, known: known.length });
  }
  await ledger.compact(new Set(messages.flatMap((message) => (message.uidl ? [message.uidl] : []))));
  return { fetched, bytes, deleted, known: known.length };
}

/** Finish what a crashed run left between "pending" and "delivered". */
async function settleLedger(sink: DeliverySink, ledger: UidlLedger, log: ClientLog): Promise<Set<string>> {
  const state = await ledger.load();
  const delivered = new Set(state.delivered);
  const settled: string[] = [];
  for (const [uidl, ref] of state.pending) {
    if (delivered.has(uidl)) continue;
    if ((await sink.resolvePending(ref)) === 'delivered') settled.push(uidl);
  }
  if (settled.length) {
    log.info({ messages: settled.length }, 'completed deliveries interrupted by an earlier run');
    await ledger.markDelivered(settled);
    for (const uidl of settled) delivered.add(uidl);
  }
  return delivered;
}

function* batches(messages: readonly RemoteMessage[], maxMessages: number, maxBytes: number): Generator<RemoteMessage[]> {
  let batch: RemoteMessage[] = [];
  let size = 0;
  for (const message of messages) {
    batch.push(message);
    size += message.size;
    if (batch.length >= maxMessages || size >= maxBytes) {
      yield batch;
      batch = [];
      size = 0;
    }
  }
  if (batch.length) yield batch;
}

interface StagedEntry {
  readonly message: RemoteMessage;
  readonly staged: StagedDelivery;
  readonly messageId?: string;
}

/** Header bytes kept to find the Message-ID for the audit log. */
const HEADER_SAMPLE_BYTES = 16 * 1024;
const MESSAGE_ID = /^message-id:[ \t]*(<[^>\r\n]{1,900}>)/im;

function messageIdOf(sample: Buffer): string | undefined {
  const text = sample.toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  return MESSAGE_ID.exec(end >= 0 ? text.slice(0, end) : text)?.[1];
}

/** RETR a batch with up to `window` commands in flight; staging runs beside the reading. */
async function retrieveBatch(
  transport: Pop3Transport,
  batch: readonly RemoteMessage[],
  sink: DeliverySink,
  options: DownloadOptions,
  onStaged: (message: RemoteMessage, size: number) => void,
  /** Commands sent before this batch whose replies are still due (the previous batch's last DELEs): read first. */
  earlier: { readonly count: number; readonly read: () => Promise<void> } = { count: 0, read: async () => {} },
): Promise<StagedEntry[]> {
  const results: Array<StagedEntry | undefined> = new Array(batch.length);
  const running = new Set<Promise<void>>();
  let failure: unknown;
  let sent = 0;
  let outstandingBefore = earlier.count;
  const fill = (received: number) => {
    while (sent < batch.length && sent - received + outstandingBefore < options.window) transport.send(`RETR ${batch[sent++]!.number}`);
  };
  fill(0);
  try {
    await earlier.read();
    outstandingBefore = 0;
    fill(0);
    for (let index = 0; index < batch.length; index++) {
      const message = batch[index]!;
      const status = await transport.readStatus();
      fill(index + 1);
      if ('continuation' in status || !status.ok) {
        // Gone meanwhile (another client) or refused: not staged, so never deleted.
        options.log.warn({ number: message.number, uidl: message.uidl, reply: status.text }, 'RETR refused; message skipped');
        continue;
      }
      const meta: DeliveryMeta = { uidl: message.uidl ?? `#${message.number}`, number: message.number, listedSize: message.size };
      const { staging, sample } = await receive(transport, message, meta, sink, options);
      const task = staging.then(
        (staged) => {
          results[index] = { message, staged, messageId: messageIdOf(sample) };
          onStaged(message, staged.bytes);
        },
        (error: unknown) => {
          failure ??= error;
        },
      );
      running.add(task);
      void task.finally(() => running.delete(task));
      while (running.size >= options.stageConcurrency) await Promise.race(running);
      if (failure) break;
    }
    await Promise.all(running);
  } catch (error) {
    await Promise.allSettled(running);
    await sink.discard(results.flatMap((entry) => (entry ? [entry.staged] : []))).catch(() => {});
    throw error instanceof RetrievalError ? error : new RetrievalError('download', `download failed: ${(error as Error).message}`, { cause: error });
  }
  const staged = results.filter((entry): entry is StagedEntry => entry !== undefined);
  if (failure) {
    await sink.discard(staged.map((entry) => entry.staged)).catch(() => {});
    throw new RetrievalError('deliver', `cannot store message: ${(failure as Error).message}`, { cause: failure });
  }
  return staged;
}

/**
 * Reads one message body off the wire. Small messages are gathered into one buffer; past
 * `bufferBytes` the rest streams into the sink with backpressure, so memory stays bounded
 * whatever LIST claimed. Resolves once the body is read, with the staging still running
 * (wrapped, so awaiting the read does not also wait for the fsync).
 */
async function receive(
  transport: Pop3Transport,
  message: RemoteMessage,
  meta: DeliveryMeta,
  sink: DeliverySink,
  options: DownloadOptions,
): Promise<{ staging: Promise<StagedDelivery>; sample: Buffer }> {
  const header = options.receivedHeader ? Buffer.from(options.receivedHeader(message)) : undefined;
  const chunks: Buffer[] = header ? [header] : [];
  let buffered = header?.length ?? 0;
  let stream: PassThrough | undefined;
  let streamed: Promise<StagedDelivery> | undefined;
  const sampled: Buffer[] = [];
  let sampleBytes = 0;
  await transport.readBody(async (chunk) => {
    if (sampleBytes < HEADER_SAMPLE_BYTES) {
      sampled.push(chunk.subarray(0, HEADER_SAMPLE_BYTES - sampleBytes));
      sampleBytes += sampled[sampled.length - 1]!.length;
    }
    if (!stream) {
      chunks.push(chunk);
      buffered += chunk.length;
      if (buffered <= options.bufferBytes) return;
      stream = new PassThrough({ highWaterMark: 256 * 1024 });
      streamed = sink.stage(stream, meta);
      streamed.catch(() => stream?.destroy());
      for (const held of chunks.splice(0)) stream.write(held);
      return;
    }
    if (stream.destroyed) throw new Error('staging stopped');
    if (!stream.write(chunk)) {
      await new Promise<void>((resolve) => {
        stream!.once('drain', resolve);
        stream!.once('close', resolve);
      });
    }
  }, options.maxMessageBytes).catch(async (error: unknown) => {
    stream?.destroy(error as Error);
    // Let the staging finish removing its partial tmp file before anyone exits.
    const staged = await streamed?.catch(() => undefined);
    if (staged) await sink.discard([staged]).catch(() => {});
    throw error;
  });
  if (stream) {
    stream.end();
    return { staging: streamed!, sample: Buffer.concat(sampled) };
  }
  return { staging: sink.stage(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), meta), sample: Buffer.concat(sampled) };
}

/**
 * Sends a DELE for each message within the pipeline window and reads replies until at most
 * window - 1 are still due; those are returned for the next batch to read behind its RETRs.
 * With a window of 1 (no PIPELINING) nothing is left: lock-step as before.
 */
async function deleteLeavingTail(
  transport: Pop3Transport,
  messages: readonly RemoteMessage[],
  window: number,
  log: ClientLog,
): Promise<{ deleted: number; unanswered: RemoteMessage[] }> {
  let sent = 0;
  let received = 0;
  let deleted = 0;
  const fill = () => {
    while (sent < messages.length && sent - received < window) transport.send(`DELE ${messages[sent++]!.number}`);
  };
  fill();
  while (received < messages.length && (sent < messages.length || sent - received >= window)) {
    deleted += await readDeleteReplies(transport, [messages[received]!], log);
    received++;
    fill();
  }
  return { deleted, unanswered: messages.slice(received) };
}

async function readDeleteReplies(transport: Pop3Transport, messages: readonly RemoteMessage[], log: ClientLog): Promise<number> {
  let deleted = 0;
  for (const message of messages) {
    try {
      await expectOk(transport, 'DELE');
      deleted++;
    } catch (error) {
      if (!(error instanceof Pop3ReplyError)) throw new RetrievalError('delete', `DELE failed: ${(error as Error).message}`, { cause: error });
      // Stored and recorded already: the next run deletes it without fetching it again.
      log.warn({ number: message.number, uidl: message.uidl, reply: error.text }, 'DELE refused; message stays on the server until the next run');
    }
  }
  return deleted;
}

async function deleteMessages(transport: Pop3Transport, messages: readonly RemoteMessage[], window: number, log: ClientLog): Promise<number> {
  const { deleted, unanswered } = await deleteLeavingTail(transport, messages, window, log);
  return deleted + (await readDeleteReplies(transport, unanswered, log));
}
