/**
 * What the client session needs from outside: a connection to the remote server, a place to
 * deliver to, and a durable ledger of UIDLs. The Retriever app implements them over sockets,
 * the Message-Store, a downloads directory or SMTP.
 */
import type { StatusLine } from '@mailnode/pop3-protocol';

export interface Pop3Transport {
  /** Sends one command (CRLF added). */
  send(line: string): void;
  /** Next status line; rejects after the response timeout or on a malformed/oversize line. */
  readStatus(): Promise<Extract<StatusLine, { ok: boolean }> | Extract<StatusLine, { continuation: true }>>;
  /** Body of a multi-line reply, unstuffed, CRLF kept; the sink may apply backpressure. Returns its size. */
  readBody(sink: (chunk: Buffer) => void | Promise<void>, maxBytes: number): Promise<number>;
  /** Upgrades to TLS after STLS was accepted; verifies the certificate. */
  startTls(): Promise<void>;
  readonly secure: boolean;
  /** Whether a client certificate was presented (SASL EXTERNAL). */
  readonly hasClientCertificate: boolean;
  close(): void;
}

/** A message written durably but not yet visible at its destination. */
export interface StagedDelivery {
  readonly uidl: string;
  readonly bytes: number;
  /** Persisted in the ledger so an interrupted publish can be checked after a crash. */
  readonly ref: string;
}

export interface DeliveryMeta {
  readonly uidl: string;
  readonly number: number;
  /** Size announced by LIST (may be wrong: servers lie). */
  readonly listedSize: number;
}

export interface DeliverySink {
  /** Fails (and nothing is downloaded) when the destination cannot take mail, e.g. unknown recip. */
  prepare(): Promise<void>;
  /** Writes the message (CRLF wire form, unstuffed) durably, invisible until published. */
  stage(source: AsyncIterable<Buffer> | Buffer, meta: DeliveryMeta): Promise<StagedDelivery>;
  /** Makes staged messages visible; when it resolves they are durable (fsync or SMTP 250). */
  publish(staged: readonly StagedDelivery[]): Promise<void>;
  discard(staged: readonly StagedDelivery[]): Promise<void>;
  /** After a crash: finish or judge a publish the ledger saw start. */
  resolvePending(ref: string): Promise<'delivered' | 'not-delivered'>;
  /** Where messages went, for the audit log. */
  describe(): string;
}

/** Per-client durable record of UIDLs, so nothing is fetched twice. */
export interface UidlLedger {
  load(): Promise<{ delivered: ReadonlySet<string>; pending: ReadonlyMap<string, string> }>;
  /** Before publishing: these UIDLs are about to become visible (ref says where). */
  markPending(entries: ReadonlyArray<{ uidl: string; ref: string }>): Promise<void>;
  /** After publishing: these UIDLs are delivered. Durable when it resolves. */
  markDelivered(uidls: readonly string[]): Promise<void>;
  /** Forget UIDLs the server no longer lists, and settled pending entries. */
  compact(onServer: ReadonlySet<string>): Promise<void>;
}

export interface ClientLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

/** One line per delivered message (the Mailismus audit log). */
export interface AuditSink {
  delivered(entry: { uidl: string; bytes: number; messageId?: string; destination: string }): void;
}

export interface ProgressReport {
  readonly total: number;
  readonly totalBytes: number;
  readonly done: number;
  readonly doneBytes: number;
}
