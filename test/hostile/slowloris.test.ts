/**
 * Slow clients against a real `node apps/mailnode`: a connection that stops mid-line is closed at
 * the idle timeout while a normal session goes on; a one-byte-per-second drip (which never lets
 * the connection go idle) should be closed too; slow connections up to the per-IP and total caps
 * are refused with an [IN-USE] line, and service resumes once they are gone.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startMailnode, stopAllMailnodes, type MailnodeProcess } from '../harness/mailnode-process.ts';
import { fillMailboxes, makeUsers, usersFile } from './mailboxes.ts';
import { expectServesNormally } from './node-health.ts';
import { destroyAllSockets, loginUserPass, Pop3Socket, sleep } from './pop3-socket.ts';

const TIMEOUT_MS = 2000;
/** How late after the idle timeout a close may come (timer granularity, a busy 2-core machine). */
const SLACK_MS = 2500;
const users = makeUsers(2, 'sl');

/** A logged-in session that runs STAT every 250 ms while `busy` resolves; returns the worst latency. */
async function normalSessionDuring(node: MailnodeProcess, busy: Promise<unknown>): Promise<{ commands: number; worstMs: number }> {
  const client = await Pop3Socket.connect(node.ports.pop3);
  expect(await loginUserPass(client, users[0]!.name, users[0]!.password)).toMatch(/^\+OK Logged in/);
  let done = false;
  void busy.finally(() => (done = true));
  let commands = 0;
  let worstMs = 0;
  while (!done) {
    const t = Date.now();
    expect(await client.command('STAT')).toMatch(/^\+OK 3 /);
    worstMs = Math.max(worstMs, Date.now() - t);
    commands++;
    await sleep(250);
  }
  expect(await client.command('QUIT')).toMatch(/^\+OK/);
  client.destroy();
  return { commands, worstMs };
}

describe('slowloris: idle timeout', () => {
  let node: MailnodeProcess;

  beforeAll(async () => {
    node = await startMailnode({ users: usersFile(users), config: { pop3server: { timeout: `${TIMEOUT_MS}ms` } } });
    await fillMailboxes(node.mailRoot, users, 3, 2000);
  });
  afterEach(() => destroyAllSockets());
  afterAll(() => stopAllMailnodes());

  it('closes a connection that stops in the middle of a line at the timeout; a concurrent session is unaffected', { timeout: 15_000 }, async () => {
    const slow = await Pop3Socket.connect(node.ports.pop3);
    await slow.line();
    const sentAt = Date.now();
    slow.write('USER sl0'); // no CRLF, then silence
    const closing = (async () => {
      const reply = await slow.lineOrClose(TIMEOUT_MS + SLACK_MS);
      await slow.closed(SLACK_MS);
      return reply;
    })();
    const normal = await normalSessionDuring(node, closing);
    const reply = await closing;
    const closedAfter = slow.closedAt - sentAt;
    expect(reply === null || reply === '-ERR Disconnected for inactivity', `reply: ${reply}`).toBe(true);
    expect(closedAfter).toBeGreaterThanOrEqual(TIMEOUT_MS - 100);
    expect(closedAfter).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    expect(normal.commands).toBeGreaterThanOrEqual(4);
    expect(normal.worstMs).toBeLessThan(1000);
  });

  it('closes a connection that drips one byte per second without ever completing a line', { timeout: 20_000 }, async () => {
    const slow = await Pop3Socket.connect(node.ports.pop3);
    await slow.line();
    const startedAt = Date.now();
    const drip = setInterval(() => slow.write('X'), 1000);
    try {
      const closing = slow.closed(3 * TIMEOUT_MS + SLACK_MS).then(
        () => true,
        () => false,
      );
      const normal = await normalSessionDuring(node, closing);
      expect(await closing, `still open ${Date.now() - startedAt} ms after the drip started (timeout ${TIMEOUT_MS} ms)`).toBe(true);
      expect(slow.closedAt - startedAt).toBeLessThan(TIMEOUT_MS + SLACK_MS);
      expect(normal.worstMs).toBeLessThan(1000);
    } finally {
      clearInterval(drip);
    }
  });

  it('a client that drips complete commands slowly is served while it keeps the line busy', { timeout: 15_000 }, async () => {
    // The other side of the same rule: activity keeps a session alive, and each NOOP line dripped
    // at 4 bytes/s (faster than the timeout) is answered.
    const slow = await Pop3Socket.connect(node.ports.pop3);
    expect(await loginUserPass(slow, users[1]!.name, users[1]!.password)).toMatch(/^\+OK Logged in/);
    for (const byte of 'NOOP\r\nNOOP\r\n') {
      slow.write(byte);
      await sleep(250);
    }
    expect(await slow.line()).toBe('+OK');
    expect(await slow.line()).toBe('+OK');
    expect(await slow.command('QUIT')).toMatch(/^\+OK/);
  });
});

describe('slowloris: connection caps', () => {
  const PER_IP = 20;
  const TOTAL = 30;
  let node: MailnodeProcess;

  beforeAll(async () => {
    node = await startMailnode({
      users: usersFile(users),
      // A long timeout: the slow connections must outlive the test on their own.
      config: { pop3server: { timeout: '60s', limits: { connections_per_ip: PER_IP, connections: TOTAL, auth_failure_delay: '0s' } } },
    });
    await fillMailboxes(node.mailRoot, users, 3, 2000);
  });
  afterEach(() => destroyAllSockets());
  afterAll(() => stopAllMailnodes());

  /** `count` connections from `localAddress` that read the greeting and then send half a line. */
  async function slowConnections(count: number, localAddress: string): Promise<Pop3Socket[]> {
    const out: Pop3Socket[] = [];
    for (let i = 0; i < count; i++) {
      const client = await Pop3Socket.connect(node.ports.pop3, { localAddress });
      expect(await client.line()).toMatch(/^\+OK /);
      client.write('US');
      out.push(client);
    }
    return out;
  }

  /** Polls until a connection from `localAddress` gets a greeting again (the server releases slots on close). */
  async function greetedAgain(localAddress: string, timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const client = await Pop3Socket.connect(node.ports.pop3, { localAddress });
      const first = await client.lineOrClose();
      client.destroy();
      if (first?.startsWith('+OK') || Date.now() > deadline) return first ?? '(closed)';
      await sleep(100);
    }
  }

  it('refuses the connection over the per-IP cap with [IN-USE]; other addresses are still served; service resumes after', { timeout: 20_000 }, async () => {
    const slow = await slowConnections(PER_IP, '127.0.0.1');
    const refused = await Pop3Socket.connect(node.ports.pop3, { localAddress: '127.0.0.1' });
    expect(await refused.line()).toBe('-ERR [IN-USE] Too many connections from your address');
    await refused.closed();
    // A second refusal, to show the slot count did not drift.
    const again = await Pop3Socket.connect(node.ports.pop3, { localAddress: '127.0.0.1' });
    expect(await again.line()).toBe('-ERR [IN-USE] Too many connections from your address');

    // Another client address is not affected by 127.0.0.1's cap.
    const other = await Pop3Socket.connect(node.ports.pop3, { localAddress: '127.0.0.2' });
    expect(await loginUserPass(other, users[0]!.name, users[0]!.password)).toMatch(/^\+OK Logged in/);
    expect(await other.command('QUIT')).toMatch(/^\+OK/);

    // The slow connections are still open and untouched.
    expect(slow.every((client) => !client.ended)).toBe(true);
    for (const client of slow) client.destroy();
    expect(await greetedAgain('127.0.0.1')).toMatch(/^\+OK /);
    await expectServesNormally(node, users[1]!.name, users[1]!.password);
  });

  it('refuses the connection over the total cap, plaintext with [IN-USE], implicit TLS by closing', { timeout: 20_000 }, async () => {
    const first = await slowConnections(PER_IP, '127.0.0.1');
    const second = await slowConnections(TOTAL - PER_IP, '127.0.0.2');
    const refused = await Pop3Socket.connect(node.ports.pop3, { localAddress: '127.0.0.3' });
    expect(await refused.line()).toBe('-ERR [IN-USE] Too many connections, try later');
    await refused.closed();
    // Implicit TLS: the client cannot read a plaintext line, so the handshake just fails.
    await expect(Pop3Socket.connect(node.ports.pop3s, { tls: true, localAddress: '127.0.0.3' })).rejects.toThrow();

    for (const client of [...first, ...second]) client.destroy();
    expect(await greetedAgain('127.0.0.3')).toMatch(/^\+OK /);
    const secure = await Pop3Socket.connect(node.ports.pop3s, { tls: true });
    expect(await secure.line()).toMatch(/^\+OK /);
    await expectServesNormally(node, users[0]!.name, users[0]!.password);
  });
});
