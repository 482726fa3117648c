/**
 * 10 MB command lines against a real `node apps/mailnode`: without a newline the server holds at
 * most line_length bytes and closes at the idle timeout; with one it answers
 * `-ERR Command line too long` and the session goes on. RSS stays bounded, even with several
 * such lines at once, and the process stays up.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startMailnode, stopAllMailnodes, type MailnodeProcess } from '../harness/mailnode-process.ts';
import { fillMailboxes, makeUsers, usersFile } from './mailboxes.ts';
import { expectServesNormally } from './node-health.ts';
import { destroyAllSockets, Pop3Socket } from './pop3-socket.ts';
import { mib, MiB, rssBytes, watchRss } from './server-memory.ts';

const TIMEOUT_MS = 2000;
const TEN_MB = 10 * 1024 * 1024;
const RSS_GROWTH_BOUND = 30 * MiB;
const users = makeUsers(1, 'll');
let node: MailnodeProcess;

beforeAll(async () => {
  node = await startMailnode({ users: usersFile(users), config: { pop3server: { timeout: `${TIMEOUT_MS}ms` } } });
  await fillMailboxes(node.mailRoot, users, 2, 2000);
});
afterEach(() => destroyAllSockets());
afterAll(() => stopAllMailnodes());

/** Writes `total` bytes of 'a' in 256 KiB pieces, waiting for each to be taken by the kernel. */
async function sendBytes(client: Pop3Socket, total: number, prefix = ''): Promise<void> {
  const piece = Buffer.alloc(256 * 1024, 0x61);
  if (prefix) await client.writeAll(prefix);
  for (let sent = 0; sent < total; sent += piece.length) await client.writeAll(piece.subarray(0, Math.min(piece.length, total - sent)));
}

describe('10 MB command lines', () => {
  it('without a newline: no reply while it streams, bounded RSS, closed at the idle timeout', { timeout: 20_000 }, async () => {
    const before = rssBytes(node.pid);
    const watch = watchRss(node.pid);
    const client = await Pop3Socket.connect(node.ports.pop3);
    await client.line();
    await sendBytes(client, TEN_MB, 'USER ');
    const doneAt = Date.now();
    // Nothing to answer yet: the line has not ended.
    expect(client.receivedBytes).toBeLessThan(200);
    const reply = await client.lineOrClose(TIMEOUT_MS + 3000);
    expect(reply === null || reply === '-ERR Disconnected for inactivity', `reply: ${reply}`).toBe(true);
    await client.closed(3000);
    expect(client.closedAt - doneAt).toBeLessThan(TIMEOUT_MS + 3000);
    const peak = watch.stop();
    console.log(`10 MB line without newline: RSS before ${mib(before)}, peak ${mib(peak)}`);
    expect(peak - before).toBeLessThan(RSS_GROWTH_BOUND);
    await expectServesNormally(node, users[0]!.name, users[0]!.password);
  });

  it('with a newline: -ERR Command line too long, then the session goes on (logged in too)', { timeout: 20_000 }, async () => {
    const before = rssBytes(node.pid);
    const watch = watchRss(node.pid);
    const client = await Pop3Socket.connect(node.ports.pop3);
    await client.line();
    await sendBytes(client, TEN_MB, 'USER ');
    client.write('\r\n');
    expect(await client.line(10_000)).toBe('-ERR Command line too long');
    expect(await client.command(`USER ${users[0]!.name}`)).toMatch(/^\+OK/);
    expect(await client.command(`PASS ${users[0]!.password}`)).toMatch(/^\+OK Logged in/);
    // In the TRANSACTION state too, with the line split into many writes.
    await sendBytes(client, TEN_MB, 'RETR ');
    client.write('\r\n');
    expect(await client.line(10_000)).toBe('-ERR Command line too long');
    expect(await client.command('STAT')).toMatch(/^\+OK 2 /);
    expect(await client.command('QUIT')).toMatch(/^\+OK/);
    const peak = watch.stop();
    console.log(`10 MB lines with newline: RSS before ${mib(before)}, peak ${mib(peak)}`);
    expect(peak - before).toBeLessThan(RSS_GROWTH_BOUND);
  });

  it('four 10 MB lines at once: each answered, RSS growth bounded', { timeout: 30_000 }, async () => {
    const before = rssBytes(node.pid);
    const watch = watchRss(node.pid);
    const replies = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const client = await Pop3Socket.connect(node.ports.pop3);
        await client.line();
        await sendBytes(client, TEN_MB, 'PASS ');
        client.write('\r\nCAPA\r\n');
        const tooLong = await client.line(15_000);
        const capa = await client.line(5000);
        client.destroy();
        return [tooLong, capa];
      }),
    );
    const peak = watch.stop();
    console.log(`4 x 10 MB lines at once: RSS before ${mib(before)}, peak ${mib(peak)}`);
    expect(replies).toEqual(Array.from({ length: 4 }, () => ['-ERR Command line too long', '+OK Capability list follows']));
    expect(peak - before).toBeLessThan(RSS_GROWTH_BOUND);
    await expectServesNormally(node, users[0]!.name, users[0]!.password);
  });
});
