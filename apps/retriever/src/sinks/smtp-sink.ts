/**
 * SMTP-injection mode: each message is handed to an SMTP (or LMTP) server; it counts as
 * delivered only when the server answered 250 for every recipient. Messages are spooled to a
 * temp file first so memory stays bounded, and sent one per batch so a refusal of one never
 * leaves an earlier one unrecorded.
 */
import { createReadStream } from 'node:fs';
import { mkdir, open, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { Directory } from '@mailnode/directory';
import { writeSource } from './write-source.ts';
import { RetrievalError, type DeliveryMeta, type DeliverySink, type StagedDelivery } from '@mailnode/pop3-client-session';

export interface SmtpTarget {
  readonly host: string;
  readonly port: number;
  readonly lmtp: boolean;
  readonly sender: string;
  /** Name we give in EHLO/LHLO. */
  readonly localName: string;
  readonly timeoutMs: number;
}

/** nodemailer is loaded on first use: most runs never send by SMTP, and loading it costs start-up time. */
let smtpConnectionClass: Promise<typeof SMTPConnection> | undefined;
function loadSmtpConnection(): Promise<typeof SMTPConnection> {
  return (smtpConnectionClass ??= import('nodemailer/lib/smtp-connection').then((module) => module.default));
}

export class SmtpSink implements DeliverySink {
  private recipients: string[] = [];

  constructor(
    private readonly target: SmtpTarget,
    private readonly recip: string,
    private readonly directory: Directory | undefined,
    private readonly spoolDir: string,
  ) {}

  async prepare(): Promise<void> {
    const expanded = this.directory ? await this.directory.expandAlias(this.recip) : [];
    // Local users come back as bare names; SMTP needs a domain (RFC 5321), so use ours.
    this.recipients = (expanded.length ? expanded : [this.recip]).map((address) => (address.includes('@') ? address : `${address}@${this.target.localName}`));
    await mkdir(this.spoolDir, { recursive: true, mode: 0o700 });
  }

  async stage(source: AsyncIterable<Buffer> | Buffer, meta: DeliveryMeta): Promise<StagedDelivery> {
    const path = join(this.spoolDir, `${process.pid}-${randomBytes(6).toString('hex')}.msg`);
    const handle = await open(path, 'wx', 0o600);
    let bytes: number;
    try {
      bytes = await writeSource(handle, source);
    } catch (error) {
      await unlink(path).catch(() => {});
      throw error;
    } finally {
      await handle.close();
    }
    return { uidl: meta.uidl, bytes, ref: path };
  }

  async publish(staged: readonly StagedDelivery[]): Promise<void> {
    for (const item of staged) {
      await this.send(item.ref);
      await unlink(item.ref).catch(() => {});
    }
  }

  async discard(staged: readonly StagedDelivery[]): Promise<void> {
    await Promise.all(staged.map((item) => unlink(item.ref).catch(() => {})));
  }

  /** SMTP cannot be asked whether a message arrived; sending again risks a duplicate, not a loss. */
  async resolvePending(): Promise<'delivered' | 'not-delivered'> {
    return 'not-delivered';
  }

  describe(): string {
    return `${this.target.lmtp ? 'lmtp' : 'smtp'}:${this.target.host}:${this.target.port} to ${this.recipients.join(',') || this.recip}`;
  }

  private async send(path: string): Promise<void> {
    const { target } = this;
    const SmtpConnection = await loadSmtpConnection();
    const connection = new SmtpConnection({
      host: target.host,
      port: target.port,
      lmtp: target.lmtp,
      name: target.localName,
      ignoreTLS: true,
      connectionTimeout: target.timeoutMs,
      greetingTimeout: target.timeoutMs,
      socketTimeout: target.timeoutMs,
    });
    return new Promise<void>((resolve, reject) => {
      const fail = (error: Error) => {
        connection.close();
        reject(new RetrievalError('deliver', `SMTP server ${target.host}:${target.port} refused the message: ${error.message}`, { cause: error }));
      };
      connection.once('error', fail);
      connection.connect(() => {
        connection.send({ from: this.target.sender, to: this.recipients }, createReadStream(path), (error, info) => {
          if (error) return fail(error);
          if (info.rejected?.length) return fail(new Error(`recipients refused: ${info.rejected.join(', ')}`));
          connection.quit();
          resolve();
        });
      });
    });
  }
}
