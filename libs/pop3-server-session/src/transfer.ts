/** RETR and TOP: read the message from the store and hand it to the connection. */
import type { MailboxSession } from '@mailnode/message-store';
import { okLine } from '@mailnode/pop3-protocol';
import type { SessionIO, WireOptions } from './session-types.ts';

export async function transferMessage(io: SessionIO, mailbox: MailboxSession, index: number, options: WireOptions): Promise<void> {
  const content = await mailbox.read(index);
  const status = options.bodyLines === undefined ? okLine(`${mailbox.messages[index]!.wireSize} octets`) : okLine('Top of message follows');
  await io.sendMessage(status, content, options);
}
