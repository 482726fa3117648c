/** The session's view of the mailbox: fixed numbering, deletions only marked until UPDATE. */
import type { StoredMessage } from '@mailnode/message-store';
import { errLine, parseMessageNumber } from '@mailnode/pop3-protocol';

export interface Maildrop {
  readonly messages: readonly StoredMessage[];
  /** 0-based indexes marked by DELE. */
  readonly deleted: ReadonlySet<number>;
}

export function totals(drop: Maildrop): { count: number; octets: number } {
  let count = 0;
  let octets = 0;
  drop.messages.forEach((message, index) => {
    if (drop.deleted.has(index)) return;
    count++;
    octets += message.wireSize;
  });
  return { count, octets };
}

/** A message number argument resolved to an index, or the -ERR line to send. */
export function lookupMessage(drop: Maildrop, arg: string | undefined): { index: number } | { reply: string } {
  const number = parseMessageNumber(arg);
  if (number === null) return { reply: errLine('Invalid message number') };
  const index = number - 1;
  if (index >= drop.messages.length) return { reply: errLine('No such message') };
  if (drop.deleted.has(index)) return { reply: errLine(`Message ${number} already deleted`) };
  return { index };
}
