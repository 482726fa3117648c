/**
 * Clients that never read what they asked for, against a real `node apps/mailnode`: pipelined
 * RETRs of 50 × 1 MB messages are held back by backpressure (RSS bounded), the idle timeout ends
 * the stuck sessions (their mailbox locks are released), and other clients are served meanwhile.
 * A flood of small commands (CAPA) that is never read should be bounded the same way.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startMailnode, stopAllMailnodes, type MailnodeProcess } from '../harness/mailnode-process.ts';
import { fillMailboxes, makeUsers, usersFile } from './mailboxes.ts';
import { expectServesNormally } from './node-health.ts';
import { destroyAllSockets, loginUserPass, Pop3Socket, sleep } from './pop3-socket.ts';
import { mib, MiB, rssBytes, watchRss } from './server-memory.ts';

const TIMEOUT_MS = 3000;
/** Timeout, plus up to 2 s to destroy (connection.ts), plus slack: every write completion re-arms the timer while the kernel still takes data. */
const CLOSE_BOUND_MS = TIMEOUT_MS + 2000 + 5000;
const MESSAGES = 50;
const MESSAGE_SIZE = 1024 * 1024;
const STUCK = 4;
/** What the stuck sessions may add to the server's RSS, all together (they asked for 4 × 50 MB). */
const RSS_GROWTH_BOUND = 64 * MiB;

/** Small messages (read and answered within each RETR's turn): 1 500 × 60 KB asked, ~90 MB. */
const SMALL_MESSAGES = 1500;
const SMALL_MESSAGE_SIZE = 60_000;

const stuckUsers = makeUsers(STUCK, 'stuck');
const smallUsers = makeUsers(2, 'smalls');
const reader = { name: 'reader', password: 'pw-reader' };
let node: MailnodeProcess;

beforeAll(async () => {
  node = await startMailnode({
    users: usersFile([...stuckUsers, reader, ...smallUsers]),
    config: { pop3server: { timeout: `${TIMEOUT_MS}ms` } },
  });
  await fillMailboxes(node.mailRoot, [...stuckUsers, reader], MESSAGES, MESSAGE_SIZE);
  await fillMailboxes(node.mailRoot, smallUsers, SMALL_MESSAGES, SMALL_MESSAGE_SIZE);
}, 60_000);
afterEach(() => destroyAllSockets());
afterAll(() => stopAllMailnodes());

/** Tries to log in as `user` until it works (the stuck session's lock is gone); returns when, or throws. */
async function loginWhenReleased(user: { name: string; password: string }, deadline: number): Promise<number> {
  for (;;) {
    const client = await Pop3Socket.connect(node.ports.pop3);
    const reply = await loginUserPass(client, user.name, user.password).catch((error: Error) => error.message);
    if (reply.startsWith('+OK')) {
      client.write('QUIT\r\n');
      await client.line().catch(() => undefined);
      client.destroy();
      return Date.now();
    }
    client.destroy();
    expect(reply).toMatch(/\[IN-USE\]/);
    if (Date.now() > deadline) throw new Error(`${user.name}: mailbox still locked (${reply})`);
    await sleep(200);
  }
}

describe('clients that never read their output', () => {
  it(`${STUCK} clients pipeline ${MESSAGES} RETRs of 1 MB and never read: RSS bounded, timeout ends them, others served`, { timeout: 40_000 }, async () => {
    const before = rssBytes(node.pid);
    const watch = watchRss(node.pid);
    const stuck: Pop3Socket[] = [];
    for (const user of stuckUsers) {
      const client = await Pop3Socket.connect(node.ports.pop3);
      expect(await loginUserPass(client, user.name, user.password)).toMatch(/^\+OK Logged in, 50 messages/);
      client.pause();
      client.write(Array.from({ length: MESSAGES }, (_, i) => `RETR ${i + 1}\r\n`).join(''));
      stuck.push(client);
    }
    const stalledAt = Date.now();

    // Meanwhile another client retrieves 3 of the same large messages in full.
    const other = await Pop3Socket.connect(node.ports.pop3);
    expect(await loginUserPass(other, reader.name, reader.password)).toMatch(/^\+OK Logged in/);
    const servedStart = Date.now();
    for (const n of [1, 25, 50]) {
      expect(await other.command(`RETR ${n}`)).toMatch(/^\+OK/);
      expect((await other.multiline()).length).toBeGreaterThan(MESSAGE_SIZE);
    }
    expect(await other.command('QUIT')).toMatch(/^\+OK/);
    const servedMs = Date.now() - servedStart;

    // The server ends the stuck sessions: their mailboxes can be opened again.
    const deadline = stalledAt + CLOSE_BOUND_MS;
    const released = await Promise.all(stuckUsers.map((user) => loginWhenReleased(user, deadline)));
    const peak = watch.stop();
    const releasedAfter = Math.max(...released) - stalledAt;

    // The stuck clients, reading at last, get what was in the pipe and then the close: far from 50 MB.
    for (const client of stuck) client.resume();
    for (const client of stuck) {
      await client.closed(5000);
      expect(client.receivedBytes).toBeLessThan((MESSAGES * MESSAGE_SIZE) / 4);
    }
    console.log(
      `unread RETR: RSS before ${mib(before)}, peak ${mib(peak)}; other client's 3 x 1 MB in ${servedMs} ms; ` +
        `stuck sessions released after ${releasedAfter} ms; bytes they got: ${stuck.map((c) => mib(c.receivedBytes)).join(', ')}`,
    );
    expect(servedMs).toBeLessThan(5000);
    expect(releasedAfter).toBeGreaterThanOrEqual(TIMEOUT_MS - 200);
    expect(peak - before, `RSS ${mib(before)} -> ${mib(peak)}`).toBeLessThan(RSS_GROWTH_BOUND);
    await expectServesNormally(node, reader.name, reader.password);
  });

  // Small messages are answered within the command's turn (sendMessageNow), one RETR at a time
  // (`RETR 0n`: a leading zero is a valid number but keeps the line out of RETR runs) or a run of
  // them at once (`RETR n`); either way reading input must stop once the output piles up.
  it.each([
    { lines: 'one by one', user: smallUsers[0]!, line: (n: number) => `RETR 0${n}\r\n` },
    { lines: 'in runs', user: smallUsers[1]!, line: (n: number) => `RETR ${n}\r\n` },
  ])(`${SMALL_MESSAGES} pipelined RETRs of small messages, $lines, never read: RSS bounded`, { timeout: 30_000 }, async ({ user, line }) => {
    const before = rssBytes(node.pid);
    const watch = watchRss(node.pid);
    const client = await Pop3Socket.connect(node.ports.pop3);
    expect(await loginUserPass(client, user.name, user.password)).toMatch(/^\+OK Logged in, 1500 messages/);
    client.pause();
    client.write(Array.from({ length: SMALL_MESSAGES }, (_, i) => line(i + 1)).join(''));
    await sleep(2000);
    const peak = watch.stop();
    console.log(`unread small RETRs: ${mib(SMALL_MESSAGES * SMALL_MESSAGE_SIZE)} asked, RSS before ${mib(before)}, peak ${mib(peak)}`);
    client.destroy();
    expect(peak - before, `RSS ${mib(before)} -> ${mib(peak)}`).toBeLessThan(RSS_GROWTH_BOUND);
    await expectServesNormally(node, reader.name, reader.password);
  });

  it('a flood of CAPA that is never read keeps RSS bounded', { timeout: 30_000 }, async () => {
    const before = rssBytes(node.pid);
    const watch = watchRss(node.pid);
    const client = await Pop3Socket.connect(node.ports.pop3);
    await client.line();
    client.pause();
    const burst = Buffer.from('CAPA\r\n'.repeat(100_000));
    // Up to 12 MB, for at most 5 s: a server that applies backpressure stops taking it.
    const until = Date.now() + 5000;
    let sent = 0;
    while (sent < 12 * burst.length && Date.now() < until) {
      if (client.write(burst)) sent += burst.length;
      else {
        sent += burst.length;
        await Promise.race([new Promise((resolve) => client.socket.once('drain', resolve)), sleep(Math.max(0, until - Date.now()))]);
      }
    }
    await sleep(1000);
    const peak = watch.stop();
    console.log(`CAPA flood: ${mib(sent)} offered, RSS before ${mib(before)}, peak ${mib(peak)}`);
    client.destroy();
    expect(peak - before, `RSS ${mib(before)} -> ${mib(peak)}`).toBeLessThan(RSS_GROWTH_BOUND);
    await expectServesNormally(node, reader.name, reader.password);
  });
});
