/**
 * TLS abuse against a real `node apps/mailnode`: handshake garbage on the implicit-TLS port and
 * after STLS, a stalled handshake, STLS twice, STLS after login, and plaintext commands injected
 * right after STLS in the same packet (must be discarded, never executed).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../harness/mail-generator.ts';
import { startMailnode, stopAllMailnodes, type MailnodeProcess } from '../harness/mailnode-process.ts';
import { isAlive } from '../harness/proc-stats.ts';
import { fillMailboxes, makeUsers, usersFile } from './mailboxes.ts';
import { errorLogLines, expectServesNormally } from './node-health.ts';
import { destroyAllSockets, loginUserPass, Pop3Socket, sleep } from './pop3-socket.ts';

const TIMEOUT_MS = 2000;
const SLACK_MS = 2500;
const users = makeUsers(3, 'tl');
const [alice, bob, carol] = users as [(typeof users)[0], (typeof users)[0], (typeof users)[0]];
let node: MailnodeProcess;

beforeAll(async () => {
  node = await startMailnode({ users: usersFile(users), config: { pop3server: { timeout: `${TIMEOUT_MS}ms` } } });
  await fillMailboxes(node.mailRoot, users, 3, 2000);
});
afterEach(() => destroyAllSockets());
afterAll(() => stopAllMailnodes());

function randomBytes(rng: Rng, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = rng.next() & 0xff;
  return out;
}

/** A TLS record header announcing a handshake record of `length` bytes, then `body`. */
function tlsRecord(length: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x16, 0x03, 0x01, length >> 8, length & 0xff]), body]);
}

/** Connects without TLS to the implicit-TLS port, sends `garbage`, and returns how long the close took. */
async function garbageOnImplicit(garbage: Buffer): Promise<{ closedAfterMs: number; reply: number }> {
  const client = await Pop3Socket.connect(node.ports.pop3s);
  const sentAt = Date.now();
  client.write(garbage);
  await client.closed(TIMEOUT_MS + SLACK_MS);
  return { closedAfterMs: client.closedAt - sentAt, reply: client.receivedBytes };
}

describe('TLS handshake garbage', () => {
  it('implicit-TLS port: plaintext, random binary and malformed records are dropped at once', { timeout: 20_000 }, async () => {
    const rng = new Rng(4242);
    const cases: Array<[string, Buffer]> = [
      ['POP3 in plaintext', Buffer.from('USER x\r\nPASS y\r\n')],
      ['HTTP', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
      ['random binary 64 KiB', randomBytes(rng, 64 * 1024)],
      ['handshake record of garbage', tlsRecord(200, randomBytes(rng, 200))],
      ['SSLv2-style hello', Buffer.from([0x80, 0x2e, 0x01, 0x00, 0x02, ...randomBytes(rng, 0x2b)])],
      ['alert record', Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28])],
    ];
    for (const [what, garbage] of cases) {
      const { closedAfterMs } = await garbageOnImplicit(garbage);
      // At once: well before the idle timeout.
      expect(closedAfterMs, what).toBeLessThan(TIMEOUT_MS);
    }
    expect(isAlive(node.pid)).toBe(true);
    const good = await Pop3Socket.connect(node.ports.pop3s, { tls: true });
    expect(await loginUserPass(good, alice.name, alice.password)).toMatch(/^\+OK Logged in/);
    expect(await good.command('QUIT')).toMatch(/^\+OK/);
  });

  it('implicit-TLS port: a stalled ClientHello (record header, then silence) is dropped at the timeout', { timeout: 15_000 }, async () => {
    const { closedAfterMs } = await garbageOnImplicit(tlsRecord(512, Buffer.from([0x01, 0x00])));
    expect(closedAfterMs).toBeGreaterThanOrEqual(TIMEOUT_MS - 100);
    expect(closedAfterMs).toBeLessThan(TIMEOUT_MS + SLACK_MS);
  });

  it('after STLS: garbage instead of a ClientHello ends the session; the node serves others', { timeout: 15_000 }, async () => {
    const rng = new Rng(7);
    for (const garbage of [Buffer.from('NOOP\r\nUSER x\r\n'), randomBytes(rng, 4096), tlsRecord(100, randomBytes(rng, 100))]) {
      const client = await Pop3Socket.connect(node.ports.pop3);
      await client.line();
      expect(await client.command('STLS')).toBe('+OK Begin TLS negotiation');
      client.write(garbage);
      // No plaintext answer to the garbage: the server closes (a TLS alert may come first).
      await client.closed(SLACK_MS);
      expect(client.pending()).not.toMatch(/OK|ERR/);
    }
    await expectServesNormally(node, alice.name, alice.password);
  });

  it('after STLS: a client that never starts the handshake is closed at the timeout', { timeout: 15_000 }, async () => {
    for (const stall of [Buffer.alloc(0), tlsRecord(512, Buffer.from([0x01, 0x00]))]) {
      const client = await Pop3Socket.connect(node.ports.pop3);
      await client.line();
      expect(await client.command('STLS')).toBe('+OK Begin TLS negotiation');
      const sentAt = Date.now();
      if (stall.length > 0) client.write(stall);
      await client.closed(3 * TIMEOUT_MS);
      expect(client.closedAt - sentAt).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    }
  });
});

describe('STLS misuse', () => {
  it('STLS twice: the second gets -ERR inside TLS and the session still works', async () => {
    const client = await Pop3Socket.connect(node.ports.pop3);
    await client.line();
    expect(await client.command('STLS')).toBe('+OK Begin TLS negotiation');
    await client.startTls();
    expect(client.tls).toBe(true);
    expect(await client.command('STLS')).toMatch(/^-ERR /);
    expect(await client.command(`USER ${alice.name}`)).toMatch(/^\+OK/);
    expect(await client.command(`PASS ${alice.password}`)).toMatch(/^\+OK Logged in, 3 messages/);
    expect(await client.command('STLS')).toMatch(/^-ERR /);
    expect(await client.command('STAT')).toMatch(/^\+OK 3 /);
    expect(await client.command('QUIT')).toMatch(/^\+OK/);
  });

  it('STLS after login: -ERR, the session stays in plaintext and works', async () => {
    const client = await Pop3Socket.connect(node.ports.pop3);
    expect(await loginUserPass(client, bob.name, bob.password)).toMatch(/^\+OK Logged in/);
    expect(await client.command('STLS')).toBe('-ERR STLS is not allowed after login');
    expect(await client.command('LIST 1')).toMatch(/^\+OK 1 \d+$/);
    expect(await client.command('RETR 1')).toMatch(/^\+OK/);
    expect((await client.multiline()).length).toBeGreaterThan(1000);
    expect(await client.command('QUIT')).toMatch(/^\+OK/);
  });

  it('STARTTLS injection: commands pipelined after STLS in the same packet are discarded, not executed', async () => {
    const client = await Pop3Socket.connect(node.ports.pop3);
    await client.line();
    // One packet: STLS and a login + deletion + QUIT in plaintext behind it.
    client.write(`STLS\r\nUSER ${carol.name}\r\nPASS ${carol.password}\r\nDELE 1\r\nQUIT\r\n`);
    expect(await client.line()).toBe('+OK Begin TLS negotiation');
    expect(client.pending()).toBe('""');
    await client.startTls();
    // Nothing answered the injected lines, inside or outside TLS.
    await sleep(300);
    expect(client.pending()).toBe('""');
    expect(client.ended).toBe(false);
    // USER was not executed: PASS alone is refused; the session was not QUIT.
    expect(await client.command(`PASS ${carol.password}`)).toBe('-ERR Send USER first');
    expect(await client.command(`USER ${carol.name}`)).toMatch(/^\+OK/);
    expect(await client.command(`PASS ${carol.password}`)).toMatch(/^\+OK Logged in, 3 messages/);
    // DELE 1 was not executed either.
    expect(await client.command('STAT')).toMatch(/^\+OK 3 /);
    expect(await client.command('QUIT')).toMatch(/^\+OK .*0 messages deleted/);
  });

  it('STARTTLS injection split over two packets right behind STLS is discarded too', async () => {
    const client = await Pop3Socket.connect(node.ports.pop3);
    await client.line();
    // Raw socket, so the second write goes out before we read the +OK.
    client.write('STLS\r\n');
    client.write(`USER ${carol.name}\r\n`);
    expect(await client.line()).toBe('+OK Begin TLS negotiation');
    // If the second packet reaches the server after it switched to TLS, it is the start of a
    // broken handshake and the connection ends; if before, it is discarded. Either way it must
    // never run as a command.
    const upgraded = await client.startTls().then(() => true, () => false);
    if (upgraded) {
      expect(await client.command(`PASS ${carol.password}`)).toBe('-ERR Send USER first');
      expect(await client.command('QUIT')).toBe('+OK Bye');
    }
    expect(errorLogLines(node)).toEqual([]);
  });
});
