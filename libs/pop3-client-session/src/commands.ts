/** Client-side POP3 exchanges built on the transport port. */
import { parseCapa } from '@mailnode/pop3-protocol';
import { Pop3ReplyError } from './errors.ts';
import type { Pop3Transport } from './ports.ts';

/** Longest multi-line listing we accept (UIDL/LIST/CAPA): 64 MiB is ~1.5 million messages. */
export const MAX_LISTING_BYTES = 64 * 1024 * 1024;

export async function expectOk(transport: Pop3Transport, command: string): Promise<string> {
  const status = await transport.readStatus();
  if ('continuation' in status) throw new Pop3ReplyError(command, `unexpected continuation '+ ${status.text}'`);
  if (!status.ok) throw new Pop3ReplyError(command, status.text, status.code);
  return status.text;
}

export async function simpleCommand(transport: Pop3Transport, line: string): Promise<string> {
  transport.send(line);
  return expectOk(transport, line.split(' ')[0]!);
}

async function listing(transport: Pop3Transport, command: string): Promise<string[]> {
  transport.send(command);
  await expectOk(transport, command);
  const chunks: Buffer[] = [];
  await transport.readBody((chunk) => void chunks.push(chunk), MAX_LISTING_BYTES);
  return Buffer.concat(chunks).toString('latin1').split('\r\n').filter((line) => line.length > 0);
}

export async function capa(transport: Pop3Transport): Promise<Map<string, string[]>> {
  return parseCapa(await listing(transport, 'CAPA'));
}

export interface RemoteMessage {
  readonly number: number;
  readonly size: number;
  readonly uidl?: string;
}

/** UIDL (when the server has it) and LIST, joined by message number. */
export async function listMessages(transport: Pop3Transport, withUidl: boolean): Promise<RemoteMessage[]> {
  const sizes = new Map<number, number>();
  for (const line of await listing(transport, 'LIST')) {
    const [number, size] = line.split(' ');
    const n = Number(number);
    if (Number.isInteger(n) && n > 0) sizes.set(n, Number(size) || 0);
  }
  const uidls = new Map<number, string>();
  if (withUidl) {
    let lines: string[] = [];
    try {
      lines = await listing(transport, 'UIDL');
    } catch (error) {
      // A server without UIDL: every message is new each time (as Mailismus always behaves).
      if (!(error instanceof Pop3ReplyError)) throw error;
    }
    for (const line of lines) {
      const space = line.indexOf(' ');
      const n = Number(line.slice(0, space));
      const uidl = line.slice(space + 1).trim();
      if (Number.isInteger(n) && n > 0 && uidl) uidls.set(n, uidl);
    }
  }
  return [...sizes].sort((a, b) => a[0] - b[0]).map(([number, size]) => ({ number, size, uidl: uidls.get(number) }));
}
