/**
 * A real SMTP (or LMTP) server for the retriever's injection mode: nodemailer's smtp-server on
 * 127.0.0.1, a port the kernel picks, no AUTH, no STARTTLS. Every accepted message is recorded
 * with its envelope; `refuse` makes the server answer DATA for a given Message-ID with an error
 * code (451, 550, ...) until the entry is removed. Attempts (accepted or not) are counted.
 */
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { messageIdOf } from './helpers.ts';

export interface SmtpDelivery {
  readonly from: string;
  readonly to: string[];
  readonly data: Buffer;
  readonly messageId?: string;
  /** SMTP, ESMTP or LMTP, as smtp-server saw the opening command. */
  readonly transmissionType: string;
  /** The name the client gave in EHLO/LHLO. */
  readonly clientName: string;
}

export interface SmtpPeer {
  readonly port: number;
  readonly deliveries: SmtpDelivery[];
  /** Message-ID → reply code for DATA (the message is read, then refused). */
  readonly refuse: Map<string, number>;
  /** Message-ID → how many times DATA was attempted for it. */
  readonly attempts: Map<string, number>;
  stop(): Promise<void>;
}

export async function startSmtpPeer(options: { lmtp?: boolean } = {}): Promise<SmtpPeer> {
  const deliveries: SmtpDelivery[] = [];
  const refuse = new Map<string, number>();
  const attempts = new Map<string, number>();
  const server = new SMTPServer({
    lmtp: options.lmtp ?? false,
    name: 'smtp-peer.test',
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    // stop() cuts connections still open after this long (default 30 s).
    closeTimeout: 1000,
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const data = Buffer.concat(chunks);
        const messageId = messageIdOf(data);
        if (messageId) attempts.set(messageId, (attempts.get(messageId) ?? 0) + 1);
        const code = messageId ? refuse.get(messageId) : undefined;
        if (code !== undefined) {
          const error = Object.assign(new Error(`test peer refuses ${messageId} (${code})`), { responseCode: code });
          callback(error);
          return;
        }
        const mailFrom = session.envelope.mailFrom;
        deliveries.push({
          from: mailFrom ? mailFrom.address : '',
          to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
          data,
          messageId,
          transmissionType: session.transmissionType,
          clientName: session.hostNameAppearsAs,
        });
        callback(null);
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.server.address() as AddressInfo).port,
    deliveries,
    refuse,
    attempts,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
