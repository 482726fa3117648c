/**
 * Small pieces shared by the fault tests of test/faults/: a POP3 session on top of LineClient
 * (login, UIDL listing, pipelined RETR of many messages, un-dot-stuffing), and Maildir
 * inspection (files in new/ and cur/ by unique part, partial files, lock file).
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { LineClient } from '../../apps/pop3-server/test/line-client.ts';

/** A logged-in (or refused) POP3 session. */
export async function login(port: number, user: string, password: string): Promise<{ client: LineClient; greeting: string; reply: string }> {
  const client = await LineClient.connect(port);
  const greeting = await client.line();
  const userReply = await client.command(`USER ${user}`);
  if (!userReply.startsWith('+OK')) return { client, greeting, reply: userReply };
  return { client, greeting, reply: await client.command(`PASS ${password}`) };
}

/** `UIDL` → [number, uidl] in listing order. */
export async function uidlListing(client: LineClient): Promise<Array<{ number: number; uidl: string }>> {
  const status = await client.command('UIDL');
  if (!status.startsWith('+OK')) throw new Error(`UIDL: ${status}`);
  return (await client.multiline(30_000))
    .toString('latin1')
    .split('\r\n')
    .filter(Boolean)
    .map((line) => {
      const [n, uidl] = line.split(' ');
      return { number: Number(n), uidl: uidl! };
    });
}

/** A multi-line reply body (dot-stuffed, CRLF) back to the stored form: dots removed, LF line ends. */
export function unstuff(body: Buffer): Buffer {
  const text = body.toString('latin1');
  if (text === '') return Buffer.alloc(0);
  const lines = text.split('\r\n');
  // The body ends with CRLF: the last element is ''.
  lines.pop();
  return Buffer.from(`${lines.map((line) => (line.startsWith('.') ? line.slice(1) : line)).join('\n')}\n`, 'latin1');
}

/** RETR each message number (pipelined, `window` at a time); resolves with the un-stuffed bodies. */
export async function retrieveAll(client: LineClient, numbers: readonly number[], window = 64): Promise<Map<number, Buffer>> {
  const out = new Map<number, Buffer>();
  for (let at = 0; at < numbers.length; at += window) {
    const slice = numbers.slice(at, at + window);
    client.write(slice.map((n) => `RETR ${n}\r\n`).join(''));
    for (const n of slice) {
      const status = await client.line(15_000);
      if (!status.startsWith('+OK')) throw new Error(`RETR ${n}: ${status}`);
      out.set(n, unstuff(await client.multiline(30_000)));
    }
  }
  return out;
}

/** Sends the commands in one write and returns one status line per command. */
export async function pipelined(client: LineClient, commands: readonly string[]): Promise<string[]> {
  client.write(commands.map((c) => `${c}\r\n`).join(''));
  const replies: string[] = [];
  for (let i = 0; i < commands.length; i++) replies.push(await client.line(15_000));
  return replies;
}

export interface MaildirFile {
  readonly sub: 'new' | 'cur';
  readonly name: string;
  /** Everything before the first ',' or ':' (mailnode's UIDL for names like these). */
  readonly unique: string;
  readonly size: number;
  /** S= of the name, when present. */
  readonly declared?: number;
}

export function listMaildir(maildir: string): MaildirFile[] {
  const files: MaildirFile[] = [];
  for (const sub of ['new', 'cur'] as const) {
    let names: string[];
    try {
      names = readdirSync(join(maildir, sub));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    for (const name of names) {
      if (name.startsWith('.')) continue;
      const st = statSync(join(maildir, sub, name), { throwIfNoEntry: false });
      if (!st?.isFile()) continue;
      const match = /,S=(\d+)/.exec(name);
      files.push({ sub, name, unique: name.split(/[,:]/)[0]!, size: st.size, declared: match ? Number(match[1]) : undefined });
    }
  }
  return files;
}

/** Files of new/ and cur/ whose size is not the S= their name declares (partial or torn). */
export function partial(files: readonly MaildirFile[]): string[] {
  return files.filter((f) => f.declared === undefined || f.declared !== f.size).map((f) => `${f.sub}/${f.name} (${f.size} bytes)`);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
