/**
 * NUL bytes and invalid UTF-8 in commands and in USER/PASS/AUTH arguments, against a real
 * `node apps/mailnode`: each gets a clear -ERR, none logs anyone in, the session keeps working
 * and the process does not crash or log errors.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startMailnode, stopAllMailnodes, type MailnodeProcess } from '../harness/mailnode-process.ts';
import { fillMailboxes, makeUsers, usersFile } from './mailboxes.ts';
import { errorLogLines, expectServesNormally } from './node-health.ts';
import { destroyAllSockets, loginUserPass, Pop3Socket } from './pop3-socket.ts';

const users = makeUsers(2, 'nb');
const [alice, bob] = users as [(typeof users)[0], (typeof users)[0]];
let node: MailnodeProcess;

beforeAll(async () => {
  node = await startMailnode({
    users: usersFile(users),
    // Enough room for every case below in one session.
    config: { pop3server: { limits: { bad_commands: 100, auth_failures: 100, auth_failure_delay: '0s' } } },
  });
  await fillMailboxes(node.mailRoot, users, 3, 2000);
});
afterEach(() => destroyAllSockets());
afterAll(() => stopAllMailnodes());

const bytes = (...parts: Array<string | number[]>) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
const CRLF = [0x0d, 0x0a];

async function send(client: Pop3Socket, data: Buffer): Promise<string> {
  client.write(data);
  return client.line();
}

describe('NUL bytes and invalid UTF-8', () => {
  it('commands with NUL or invalid UTF-8 in the verb get -ERR', async () => {
    const client = await Pop3Socket.connect(node.ports.pop3);
    await client.line();
    const cases: Buffer[] = [
      bytes([0, 0, 0], CRLF),
      bytes('NO', [0], 'OP', CRLF),
      bytes([0], 'CAPA', CRLF),
      bytes('CAPA', [0], CRLF),
      bytes([0xff, 0xfe, 0xfd], CRLF),
      bytes([0xc0, 0xaf], 'CAPA', CRLF), // overlong '/'
      bytes('CAP', [0xc1, 0x81], CRLF), // overlong 'A'
      bytes([0xed, 0xa0, 0x80], CRLF), // UTF-16 surrogate
      bytes('QUIT', [0xf4, 0x90, 0x80, 0x80], CRLF), // above U+10FFFF
    ];
    for (const data of cases) expect(await send(client, data), JSON.stringify(data.toString('latin1'))).toMatch(/^-ERR /);
    // Still the same, working session.
    expect(await client.command('CAPA')).toBe('+OK Capability list follows');
    await client.multiline();
    expect(await client.command('QUIT')).toBe('+OK Bye');
  });

  it('USER/PASS/APOP/AUTH with NUL or invalid UTF-8 never log in and get -ERR', async () => {
    const client = await Pop3Socket.connect(node.ports.pop3);
    await client.line();
    const name = alice.name;
    const pass = alice.password;
    const refusals: Array<[string, Buffer[]]> = [
      ['NUL inside the user name', [bytes(`USER ${name.slice(0, 2)}`, [0], name.slice(2), CRLF)]],
      ['NUL after the user name', [bytes(`USER ${name}`, [0], CRLF)]],
      ['NUL after the right password', [bytes(`USER ${name}`, CRLF), bytes(`PASS ${pass}`, [0], CRLF)]],
      ['NUL inside the password', [bytes(`USER ${name}`, CRLF), bytes(`PASS ${pass.slice(0, 3)}`, [0], pass.slice(3), CRLF)]],
      ['password of NULs', [bytes(`USER ${name}`, CRLF), bytes('PASS ', [0, 0, 0, 0], CRLF)]],
      ['invalid UTF-8 after the user name', [bytes(`USER ${name}`, [0xff], CRLF), bytes(`PASS ${pass}`, CRLF)]],
      ['invalid UTF-8 after the password', [bytes(`USER ${name}`, CRLF), bytes(`PASS ${pass}`, [0xc3, 0x28], CRLF)]],
      ['overlong encoding in the user name', [bytes(`USER ${name.slice(0, 1)}`, [0xc1, 0xb2], name.slice(2), CRLF), bytes(`PASS ${pass}`, CRLF)]],
      ['APOP with NUL', [bytes(`APOP ${name}`, [0], ' 0123456789abcdef0123456789abcdef', CRLF)]],
      ['AUTH PLAIN with invalid base64', [bytes('AUTH PLAIN ', [0xff, 0x00, 0x3d], CRLF)]],
      ['AUTH PLAIN with invalid UTF-8 inside', [bytes('AUTH PLAIN ', Buffer.from(bytes([0], name, [0xff], [0], pass)).toString('base64'), CRLF)]],
    ];
    for (const [what, lines] of refusals) {
      let last = '';
      for (const line of lines) last = await send(client, line);
      expect(last, what).toMatch(/^-ERR /);
      // Not logged in: a transaction command is still refused.
      expect(await client.command('STAT'), what).toMatch(/^-ERR .*before login/);
    }
    // The right credentials still work on the same session afterwards.
    expect(await client.command(`USER ${name}`)).toMatch(/^\+OK/);
    expect(await client.command(`PASS ${pass}`)).toMatch(/^\+OK Logged in, 3 messages/);
    expect(await client.command('QUIT')).toMatch(/^\+OK/);
  });

  it('transaction commands with NUL or invalid UTF-8 arguments get -ERR; the session goes on', async () => {
    const client = await Pop3Socket.connect(node.ports.pop3);
    expect(await loginUserPass(client, bob.name, bob.password)).toMatch(/^\+OK Logged in/);
    const cases: Buffer[] = [
      bytes('RETR 1', [0], CRLF),
      bytes('RETR ', [0], '1', CRLF),
      bytes('LIST ', [0xff], CRLF),
      bytes('TOP 1 ', [0xc3, 0x28], CRLF),
      bytes('DELE ', [0xef, 0xbc, 0x91], CRLF), // FULLWIDTH DIGIT ONE
      bytes('UIDL ', [0xd9, 0xa1], CRLF), // ARABIC-INDIC DIGIT ONE
      bytes('DELE 1', [0], CRLF),
    ];
    for (const data of cases) expect(await send(client, data), JSON.stringify(data.toString('latin1'))).toMatch(/^-ERR /);
    // Nothing was deleted by the odd DELEs.
    expect(await client.command('STAT')).toMatch(/^\+OK 3 /);
    expect(await client.command('QUIT')).toMatch(/^\+OK .*0 messages deleted/);
    await expectServesNormally(node, bob.name, bob.password);
    expect(errorLogLines(node)).toEqual([]);
  });
});
