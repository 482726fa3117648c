/**
 * The download: settle what a crashed run left in the ledger, then RETR (pipelined when the
 * server allows), stage each message durably, and per batch — ledger "pending", publish (one
 * directory fsync), ledger "delivered" — and only then DELE. A message is never deleted on the
 * server before it is safe here. The command stream itself is DownloadPipeline's.
 */
import type { RemoteMessage } from './commands.ts';
import { DownloadPipeline } from './download-pipeline.ts';
import { withPartialResult } from './errors.ts';
import type { AuditSink, ClientLog, DeliverySink, Pop3Transport, ProgressReport, UidlLedger } from './ports.ts';

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
  /** Absent when there is no audit log: Message-IDs are then not looked for. */
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

  const onProgress = options.onProgress;
  const pipeline = new DownloadPipeline(transport, [...batches(fresh, options.batchMessages, options.batchBytes)], known, sink, ledger, {
    ...options,
    onStaged: onProgress
      ? (_message, bytes) => {
          progress.done++;
          progress.doneBytes += bytes;
          onProgress({ ...progress });
        }
      : undefined,
  });
  try {
    await pipeline.run();
  } catch (error) {
    // What earlier batches stored and deleted still counts, in the summary and the status.
    throw withPartialResult(error, { ...pipeline.counts, known: known.length });
  }
  await ledger.compact(new Set(messages.flatMap((message) => (message.uidl ? [message.uidl] : []))));
  return { ...pipeline.counts, known: known.length };
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
