/** RETR and TOP: read the message from the store and hand it to the connection. */
import { MessageGoneError, type MailboxSession } from '@mailnode/message-store';
import { errLine, okLine } from '@mailnode/pop3-protocol';
import type { SessionIO, TransferStep, WireOptions } from './session-types.ts';

/**
 * Answers each step in order. A message another program removed meanwhile gets its -ERR and the
 * run goes on (the client still waits for the later replies); any other failure ends the run.
 * Resolves with the indexes RETR sent in full.
 */
export async function transferSteps(io: SessionIO, mailbox: MailboxSession, steps: readonly TransferStep[], wire: WireOptions): Promise<number[]> {
  const sent: number[] = [];
  for (const step of steps) {
    if ('reply' in step) {
      io.write(step.reply);
      continue;
    }
    try {
      await transferMessage(io, mailbox, step.index, { ...wire, bodyLines: step.bodyLines });
    } catch (error) {
      if (!(error instanceof MessageGoneError)) throw error;
      io.write(errLine('Message was removed by another program'));
      continue;
    }
    if (step.bodyLines === undefined) sent.push(step.index);
  }
  await io.flush();
  return sent;
}

export async function transferMessage(io: SessionIO, mailbox: MailboxSession, index: number, options: WireOptions): Promise<void> {
  const content = await mailbox.read(index);
  await io.sendMessage(transferStatus(mailbox, index, options.bodyLines), content, options);
}

/**
 * Answers a RETR or TOP at once if the store can read the message at once (see readNow);
 * false when it cannot, and nothing was sent.
 */
export function transferNow(io: SessionIO, mailbox: MailboxSession, index: number, wire: WireOptions): boolean {
  const data = mailbox.readNow(index);
  if (data === undefined) return false;
  io.sendMessageNow(transferStatus(mailbox, index, wire.bodyLines), data, wire);
  return true;
}

function transferStatus(mailbox: MailboxSession, index: number, bodyLines: number | undefined): string {
  return bodyLines === undefined ? okLine(`${mailbox.messages[index]!.wireSize} octets`) : okLine('Top of message follows');
}
