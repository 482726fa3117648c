/**
 * Pipelining faster than the client reads, against a real `node apps/mailnode`: 5 000 commands in
 * one write, read slowly (a pause first, then bursts); every reply arrives, in order, and is the
 * right one for its command.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../harness/mail-generator.ts';
import { startMailnode, stopAllMailnodes, type MailnodeProcess } from '../harness/mailnode-process.ts';
import { fillMailboxes, makeUsers, usersFile } from './mailboxes.ts';
import { expectServesNormally } from './node-health.ts';
import { destroyAllSockets, loginUserPass, Pop3Socket, sleep } from './pop3-socket.ts';

const COMMANDS = 5000;
const MESSAGES = 20;
const users = makeUsers(2, 'pl');
let node: MailnodeProcess;

beforeAll(async () => {
  node = await startMailnode({ users: usersFile(users) });
  await fillMailboxes(node.mailRoot, users, MESSAGES, 1500);
});
afterEach(() => destroyAllSockets());
afterAll(() => stopAllMailnodes());

interface Expected {
  readonly command: string;
  /** The status line. */
  readonly status: string;
  /** The multi-line body (without the dot line), or undefined for a single-line reply. */
  readonly body?: string;
}

describe('pipelining faster than the client reads', () => {
  it(`${COMMANDS} commands in one write, read slowly: all replies arrive, in order, each the right one`, { timeout: 30_000 }, async () => {
    const client = await Pop3Socket.connect(node.ports.pop3);
    expect(await loginUserPass(client, users[0]!.name, users[0]!.password)).toMatch(/^\+OK Logged in/);
    // The truth, asked in lock-step first.
    const stat = await client.command('STAT');
    expect(await client.command('LIST')).toMatch(/^\+OK/);
    const list = (await client.multiline()).toString('latin1');
    expect(await client.command('UIDL')).toMatch(/^\+OK/);
    const uidl = (await client.multiline()).toString('latin1');
    const sizes = list.split('\r\n').filter(Boolean).map((line) => line.split(' ')[1]!);
    const uids = uidl.split('\r\n').filter(Boolean).map((line) => line.split(' ')[1]!);
    expect(sizes).toHaveLength(MESSAGES);

    const rng = new Rng(99);
    const expected: Expected[] = [];
    for (let i = 0; i < COMMANDS; i++) {
      const n = rng.int(1, MESSAGES);
      const choice = rng.int(0, 6);
      if (choice === 0) expected.push({ command: 'NOOP', status: '+OK' });
      else if (choice === 1) expected.push({ command: 'STAT', status: stat });
      else if (choice === 2) expected.push({ command: 'LIST', status: `+OK ${stat.slice(4).replace(' ', ' messages (')} octets)`, body: list });
      else if (choice === 3) expected.push({ command: 'UIDL', status: '+OK Unique-ID listing follows', body: uidl });
      else if (choice === 4) expected.push({ command: `LIST ${n}`, status: `+OK ${n} ${sizes[n - 1]}` });
      else if (choice === 5) expected.push({ command: `UIDL ${n}`, status: `+OK ${n} ${uids[n - 1]}` });
      else expected.push({ command: `LIST ${MESSAGES + n}`, status: '-ERR' });
    }
    client.pause();
    client.write(expected.map((e) => `${e.command}\r\n`).join(''));
    // Let the server run into a full socket first.
    await sleep(1000);
    client.resume();

    const started = Date.now();
    let checked = 0;
    for (const [i, e] of expected.entries()) {
      const status = await client.line(10_000);
      if (e.status === '-ERR') expect(status, `#${i} ${e.command}`).toMatch(/^-ERR /);
      else expect(status, `#${i} ${e.command}`).toBe(e.status);
      if (e.body !== undefined) expect((await client.multiline()).toString('latin1'), `#${i} ${e.command}`).toBe(e.body);
      checked++;
      // Read slowly: stop for a moment every 250 replies.
      if (i % 250 === 249) {
        client.pause();
        await sleep(20);
        client.resume();
      }
    }
    expect(checked).toBe(COMMANDS);
    // Nothing more than the replies (no duplicates), and the session still works.
    expect(await client.command('QUIT')).toBe('+OK Logging out, 0 messages deleted');
    await client.closed();
    console.log(`pipelining: ${COMMANDS} replies checked in ${Date.now() - started} ms`);
    await expectServesNormally(node, users[1]!.name, users[1]!.password);
  });
});
