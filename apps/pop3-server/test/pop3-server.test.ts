import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LineClient } from './line-client.ts';
import { startServer, type ServerFixture } from './server-fixture.ts';

let fixture: ServerFixture | undefined;
const clients: LineClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await fixture?.stop();
  fixture = undefined;
});

async function open(port: number, tls = false): Promise<LineClient> {
  const client = await LineClient.connect(port, tls ? { ca: fixture!.certPem, servername: 'localhost' } : undefined);
  clients.push(client);
  return client;
}

async function login(client: LineClient, user = 'alice'): Promise<string> {
  expect(await client.line()).toMatch(/^\+OK /);
  expect(await client.command(`USER ${user}`)).toMatch(/^\+OK/);
  return client.command(`PASS pw-${user}`);
}

describe('POP3 server over sockets', () => {
  it('serves delivered mail with CRLF and dot-stuffing, and commits DELE at QUIT', async () => {
    fixture = await startServer();
    await fixture.store.deliver('alice', Buffer.from('Subject: a\r\n\r\n.hidden dot\r\nbody\r\n'));
    await fixture.store.deliver('alice', Buffer.from('Subject: b\r\n\r\nsecond\r\n'));
    const client = await open(fixture.port('latent'));
    expect(await login(client)).toMatch(/^\+OK Logged in, 2 messages/);
    expect(await client.command('RETR 1')).toMatch(/^\+OK \d+ octets$/);
    expect((await client.multiline()).toString()).toBe('Subject: a\r\n\r\n..hidden dot\r\nbody\r\n');
    expect(await client.command('DELE 1')).toBe('+OK Message 1 deleted');
    expect(await client.command('QUIT')).toBe('+OK Logging out, 1 messages deleted');
    await client.closed();

    const again = await open(fixture.port('latent'));
    expect(await login(again)).toMatch(/^\+OK Logged in, 1 messages/);
  });

  it('answers pipelined commands in order', async () => {
    fixture = await startServer();
    for (let i = 0; i < 20; i++) await fixture.store.deliver('alice', Buffer.from(`Subject: ${i}\r\n\r\nbody ${i}\r\n`));
    const client = await open(fixture.port('latent'));
    await client.line();
    client.write('USER alice\r\nPASS pw-alice\r\n' + Array.from({ length: 20 }, (_, i) => `RETR ${i + 1}\r\n`).join('') + 'STAT\r\nQUIT\r\n');
    expect(await client.line()).toMatch(/^\+OK/);
    expect(await client.line()).toMatch(/^\+OK Logged in/);
    for (let i = 0; i < 20; i++) {
      expect(await client.line()).toMatch(/^\+OK/);
      expect((await client.multiline()).toString()).toContain(`body ${i}\r\n`);
    }
    expect(await client.line()).toMatch(/^\+OK 20 /);
    expect(await client.line()).toMatch(/^\+OK Logging out/);
  });

  it('streams a large message and keeps bytes exact', async () => {
    fixture = await startServer();
    const line = 'x'.repeat(76) + '\n';
    const body = 'Subject: big\n\n' + line.repeat(Math.ceil((3 * 1024 * 1024) / line.length));
    await fixture.store.deliver('alice', Buffer.from(body), { crlf: false });
    const client = await open(fixture.port('latent'));
    await login(client);
    const status = await client.command('RETR 1');
    const data = await client.multiline();
    expect(data.toString()).toBe(body.replaceAll('\n', '\r\n'));
    expect(status).toBe(`+OK ${data.length} octets`);
  });

  it('sends a pipelined mix of small and large messages to two clients at once, byte-exact', async () => {
    fixture = await startServer();
    // Large ones (over small_message_bytes) go through the pooled chunk buffers; the dot lines
    // and a last line without LF test the encoder across chunk boundaries.
    const large = (tag: string, lines: number) => `Subject: ${tag}\n\n${Array.from({ length: lines }, (_, i) => (i % 7 === 0 ? `.dot ${tag} ${i}` : `${tag} line ${i} ${'y'.repeat(i % 90)}`)).join('\n')}`;
    const mailbox = (user: string) => [`Subject: ${user} 1\n\nsmall\n`, large(`${user}-a`, 9000), `Subject: ${user} 3\n\n.\n`, large(`${user}-b`, 30_000)];
    const wire = (text: string) => `${text.replaceAll('\n', '\r\n').replace(/^\./gm, '..')}${text.endsWith('\n') ? '' : '\r\n'}`;
    const users = ['alice', 'bob'];
    for (const user of users) for (const text of mailbox(user)) await fixture.store.deliver(user, Buffer.from(text), { crlf: false });
    await Promise.all(
      users.map(async (user) => {
        const client = await open(fixture!.port('latent'));
        await login(client, user);
        client.write('RETR 1\r\nRETR 2\r\nRETR 3\r\nRETR 4\r\nTOP 4 3\r\nRETR 2\r\nQUIT\r\n');
        for (const index of [0, 1, 2, 3]) {
          expect(await client.line()).toMatch(/^\+OK \d+ octets$/);
          expect((await client.multiline()).toString()).toBe(wire(mailbox(user)[index]!));
        }
        expect(await client.line()).toMatch(/^\+OK/);
        expect((await client.multiline()).toString()).toBe(wire(mailbox(user)[3]!.split('\n').slice(0, 5).join('\n') + '\n'));
        expect(await client.line()).toMatch(/^\+OK \d+ octets$/);
        expect((await client.multiline()).toString()).toBe(wire(mailbox(user)[1]!));
        expect(await client.line()).toMatch(/^\+OK Logging out/);
      }),
    );
  });

  it('refuses an overlong line and disconnects after too many bad commands', async () => {
    fixture = await startServer({ limits: { line_length: 100, bad_commands: 3, auth_failure_delay: '0s' } });
    const client = await open(fixture.port('latent'));
    await client.line();
    expect(await client.command('NOOP ' + 'a'.repeat(5000))).toBe('-ERR Command line too long');
    client.write(Buffer.from([0xff, 0xfe, 0x00, 0x41, 0x0d, 0x0a]));
    expect(await client.line()).toMatch(/^-ERR /);
    expect(await client.command('BOGUS')).toBe('-ERR Too many bad commands, closing');
    await client.closed();
  });

  it('takes a SASL response longer than a command line, but not a command that long', async () => {
    // Only SASL_EXTERNAL needs TLS here, so PLAIN works on the test's plaintext connection.
    fixture = await startServer({ authtypes_ssl: 'SASL_EXTERNAL', limits: { line_length: 100, auth_failure_delay: '0s' } });
    const client = await open(fixture.port('latent'));
    await client.line();
    expect(await client.command('NOOP ' + 'a'.repeat(200))).toBe('-ERR Command line too long');
    expect(await client.command('AUTH PLAIN')).toBe('+ ');
    // A 300-octet authzid: too long for a command line, fine as a SASL response (RFC 5034 has no such limit).
    const blob = Buffer.from(`${'z'.repeat(300)}\0alice\0pw-alice`).toString('base64');
    expect(await client.command(blob)).toBe('-ERR [AUTH] Authorization identity must match the login name');
  });

  it('keeps memory bounded against a 10 MB line without newline, then answers', async () => {
    fixture = await startServer();
    const client = await open(fixture.port('latent'));
    await client.line();
    const chunk = Buffer.alloc(1024 * 1024, 0x61);
    for (let i = 0; i < 10; i++) client.write(chunk);
    client.write('\r\n');
    expect(await client.line(10_000)).toBe('-ERR Command line too long');
    expect(await client.command('CAPA')).toBe('+OK Capability list follows');
  });

  it('closes idle sessions after the timeout without committing', async () => {
    fixture = await startServer({ timeout: '300ms' });
    await fixture.store.deliver('alice', Buffer.from('Subject: a\r\n\r\nx\r\n'));
    const client = await open(fixture.port('latent'));
    await login(client);
    expect(await client.command('DELE 1')).toMatch(/^\+OK/);
    expect(await client.line(3000)).toBe('-ERR Disconnected for inactivity');
    await client.closed();
    const again = await open(fixture.port('latent'));
    expect(await login(again)).toMatch(/^\+OK Logged in, 1 messages/);
  });

  it('answers [IN-USE] while another session holds the mailbox', async () => {
    fixture = await startServer();
    const first = await open(fixture.port('latent'));
    expect(await login(first)).toMatch(/^\+OK Logged in/);
    const second = await open(fixture.port('latent'));
    expect(await login(second)).toMatch(/^-ERR \[IN-USE\]/);
    first.close();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const third = await open(fixture.port('latent'));
    expect(await login(third)).toMatch(/^\+OK Logged in/);
  });

  it('limits connections per IP with [IN-USE]', async () => {
    fixture = await startServer({ limits: { connections_per_ip: 2, auth_failure_delay: '0s' } });
    const a = await open(fixture.port('latent'));
    const b = await open(fixture.port('latent'));
    await a.line();
    await b.line();
    const c = await open(fixture.port('latent'));
    expect(await c.line()).toBe('-ERR [IN-USE] Too many connections from your address');
    await c.closed();
  });

  it('upgrades with STLS, discarding commands pipelined in plaintext after it', async () => {
    fixture = await startServer();
    const client = await open(fixture.port('latent'));
    await client.line();
    // A STARTTLS injection attempt: CAPA rides in the same packet as STLS.
    client.write('STLS\r\nCAPA\r\n');
    expect(await client.line()).toBe('+OK Begin TLS negotiation');
    await client.startTls({ ca: fixture.certPem, servername: 'localhost' });
    expect(await client.command('NOOP')).toMatch(/^-ERR NOOP is not allowed before login/);
    expect(await client.command(`AUTH PLAIN ${Buffer.from('\0alice\0pw-alice').toString('base64')}`)).toMatch(/^\+OK Logged in/);
  });

  it('serves implicit TLS and refuses AUTH PLAIN in plaintext on the STLS port', async () => {
    fixture = await startServer();
    const secure = await open(fixture.port('implicit'), true);
    expect(await secure.line()).toMatch(/^\+OK /);
    expect(await secure.command(`AUTH PLAIN ${Buffer.from('\0bob\0pw-bob').toString('base64')}`)).toMatch(/^\+OK Logged in/);
    const plain = await open(fixture.port('latent'));
    await plain.line();
    expect(await plain.command(`AUTH PLAIN ${Buffer.from('\0bob\0pw-bob').toString('base64')}`)).toMatch(/^-ERR \[AUTH\] PLAIN is not allowed without TLS/);
  });

  it('survives a TLS handshake of garbage', async () => {
    fixture = await startServer();
    const garbage = await open(fixture.port('implicit'));
    garbage.write(Buffer.from('\x16\x03\x01\x00\x05hello garbage that is not TLS\r\n'));
    await garbage.closed();
    const good = await open(fixture.port('implicit'), true);
    expect(await good.line()).toMatch(/^\+OK /);
  });

  it('on shutdown tells sessions and deletes nothing', async () => {
    fixture = await startServer();
    await fixture.store.deliver('alice', Buffer.from('Subject: a\r\n\r\nx\r\n'));
    const client = await open(fixture.port('latent'));
    await login(client);
    await client.command('DELE 1');
    await fixture.server.stop();
    expect(await client.line()).toBe('-ERR [SYS/TEMP] Server shutting down');
    const mailbox = await fixture.store.openMailbox('alice');
    expect(mailbox.messages).toHaveLength(1);
    await mailbox.release();
  });

  it('writes a transcript with credentials masked', async () => {
    fixture = await startServer({}, { transcript: true });
    const client = await open(fixture.port('latent'));
    await login(client);
    await client.command('QUIT');
    await client.closed();
    await fixture.server.stop();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const transcript = await readFile(join(fixture.dir, 'transcript.log'), 'utf8');
    expect(transcript).toContain('C: USER alice');
    expect(transcript).toContain('C: PASS ****');
    expect(transcript).not.toContain('pw-alice');
  });
});
