/**
 * Reads one RETR body off the wire and hands it to the sink. Small messages are gathered into
 * one buffer; past `bufferBytes` the rest streams into the sink with backpressure, so memory
 * stays bounded whatever LIST claimed.
 */
import { PassThrough } from 'node:stream';
import type { RemoteMessage } from './commands.ts';
import type { DeliveryMeta, DeliverySink, Pop3Transport, StagedDelivery } from './ports.ts';

export interface ReceiveOptions {
  readonly bufferBytes: number;
  readonly maxMessageBytes: number;
  readonly receivedHeader?: (message: RemoteMessage) => string;
  /** Find the Message-ID (for the audit log); skipped when nobody reads it. */
  readonly wantMessageId: boolean;
}

export interface Received {
  /** The sink's staging, still running (awaiting the read does not also wait for the fsync). */
  readonly staging: Promise<StagedDelivery>;
  readonly messageId?: string;
}

/** Header bytes kept to find the Message-ID. */
const HEADER_SAMPLE_BYTES = 16 * 1024;
const MESSAGE_ID = /^message-id:[ \t]*(<[^>\r\n]{1,900}>)/im;

export function messageIdOf(sample: Buffer): string | undefined {
  const text = sample.toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  return MESSAGE_ID.exec(end >= 0 ? text.slice(0, end) : text)?.[1];
}

/** Resolves once the body is read; a failed read removes what the sink had staged of it. */
export async function receiveMessage(
  transport: Pop3Transport,
  message: RemoteMessage,
  meta: DeliveryMeta,
  sink: DeliverySink,
  options: ReceiveOptions,
): Promise<Received> {
  const header = options.receivedHeader ? Buffer.from(options.receivedHeader(message)) : undefined;
  const chunks: Buffer[] = header ? [header] : [];
  let buffered = header?.length ?? 0;
  let stream: PassThrough | undefined;
  let streamed: Promise<StagedDelivery> | undefined;
  const sampled: Buffer[] = [];
  let sampleBytes = options.wantMessageId ? 0 : HEADER_SAMPLE_BYTES;
  await transport
    .readBody(async (chunk) => {
      if (sampleBytes < HEADER_SAMPLE_BYTES) {
        const part = chunk.subarray(0, HEADER_SAMPLE_BYTES - sampleBytes);
        sampled.push(part);
        sampleBytes += part.length;
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
    }, options.maxMessageBytes)
    .catch(async (error: unknown) => {
      stream?.destroy(error as Error);
      // Let the staging finish removing its partial tmp file before anyone exits.
      const staged = await streamed?.catch(() => undefined);
      if (staged) await sink.discard([staged]).catch(() => {});
      throw error;
    });
  const messageId = options.wantMessageId ? messageIdOf(sampled.length === 1 ? sampled[0]! : Buffer.concat(sampled)) : undefined;
  if (stream) {
    stream.end();
    return { staging: streamed!, messageId };
  }
  return { staging: sink.stage(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), meta), messageId };
}

/** Reads past a body nobody will store (the download is stopping after a delivery failure). */
export async function skipBody(transport: Pop3Transport, maxBytes: number): Promise<void> {
  await transport.readBody(() => {}, maxBytes);
}
