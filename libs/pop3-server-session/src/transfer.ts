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
 * Answers steps at once while the store can read their messages at once (see readNow) and the
 * connection takes more output. Returns the indexes RETR sent in full and, unless all went out
 * with room to spare, the steps left (from the first not answered now; maybe none): those go the
 * asynchronous way (transferSteps), which also waits for the client to catch up.
 */
export function transferNow(io: SessionIO, mailbox: MailboxSession, steps: readonly TransferStep[], wire: WireOptions): { sent: number[]; later?: readonly TransferStep[] } {
  const sent: number[] = [];
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i]!;
    if ('reply' in step) {
      io.write(step.reply);
      continue;
    }
    const data = mailbox.readNow(step.index);
    if (data === undefined) return { sent, later: steps.slice(i) };
    const options = step.bodyLines === undefined ? wire : { ...wire, bodyLines: step.bodyLines };
    const more = io.sendMessageNow(transferStatus(mailbox, step.index, step.bodyLines), data, options);
    if (step.bodyLines === undefined) sent.push(step.index);
    if (!more) return { sent, later: steps.slice(i + 1) };
  }
  return { sent };
}

function transferStatus(mailbox: MailboxSession, index: number, bodyLines: number | undefined): string {
  return bodyLines === undefined ? okLine(`${mailbox.messages[index]!.wireSize} octets`) : okLine('Top of message follows');
}
