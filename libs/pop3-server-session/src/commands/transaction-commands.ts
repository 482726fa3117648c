/**
 * The TRANSACTION verbs that answer from the session's listing alone. The machine decides
 * when each verb is allowed; these only compute replies (RFC 1939 §5, RFC 2449).
 */
import { errLine, okLine, parseMessageNumber } from '@mailnode/pop3-protocol';
import { lookupMessage, totals, type Maildrop } from './maildrop.ts';

export interface CommandOutcome {
  readonly reply: string;
}

export type TransactionHandler = (drop: Maildrop, args: readonly string[]) => CommandOutcome;

function listing(drop: Maildrop, args: readonly string[], column: (index: number) => string, title: string): CommandOutcome {
  if (args.length > 0) {
    const found = lookupMessage(drop, args[0]);
    if ('reply' in found) return found;
    return { reply: okLine(`${found.index + 1} ${column(found.index)}`) };
  }
  const lines: string[] = [okLine(title)];
  for (let index = 0; index < drop.messages.length; index++) {
    if (!drop.deleted.has(index)) lines.push(`${index + 1} ${column(index)}\r\n`);
  }
  lines.push('.\r\n');
  return { reply: lines.join('') };
}

export const transactionCommands = {
  STAT(drop) {
    const { count, octets } = totals(drop);
    return { reply: okLine(`${count} ${octets}`) };
  },
  LIST(drop, args) {
    const { count, octets } = totals(drop);
    return listing(drop, args, (index) => String(drop.messages[index]!.wireSize), `${count} messages (${octets} octets)`);
  },
  UIDL(drop, args) {
    return listing(drop, args, (index) => drop.messages[index]!.uidl, 'Unique-ID listing follows');
  },
  DELE(drop, args) {
    const found = lookupMessage(drop, args[0]);
    if ('reply' in found) return found;
    // Marked in place: copying the set per DELE made a whole-mailbox delete quadratic.
    (drop.deleted as Set<number>).add(found.index);
    return { reply: okLine(`Message ${found.index + 1} deleted`) };
  },
  RSET(drop) {
    (drop.deleted as Set<number>).clear();
    const { count, octets } = totals(drop);
    return { reply: okLine(`Maildrop has ${count} messages (${octets} octets)`) };
  },
  NOOP() {
    return { reply: okLine() };
  },
} satisfies Record<string, TransactionHandler>;

export type TransactionVerb = keyof typeof transactionCommands;

/** RETR n / TOP n lines: which message and how much of it, or the -ERR line. */
export function resolveTransfer(
  drop: Maildrop,
  verb: 'RETR' | 'TOP',
  args: readonly string[],
): { index: number; bodyLines?: number } | { reply: string } {
  const found = lookupMessage(drop, args[0]);
  if ('reply' in found) return found;
  if (verb === 'RETR') return found;
  const lines = args[1] === '0' ? 0 : parseMessageNumber(args[1]);
  if (lines === null) return { reply: errLine('TOP needs a message number and a line count') };
  return { index: found.index, bodyLines: lines };
}
