import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MailboxLockedError, StoreUnavailableError } from '@mailnode/message-store';
import { CHALLENGE, directoryDown, startSession } from './session-harness.ts';

const b64 = (text: string) => Buffer.from(text).toString('base64');
const MESSAGES = [
  { uidl: 'u1', body: 'Subject: one\n\nfirst\n' },
  { uidl: 'u2', body: 'Subject: two\n\n.dotted\nsecond\n' },
  { uidl: 'u3', body: 'Subject: three\n\nthird\nline2\nline3\n' },
];

async function loggedIn(options: Parameters<typeof startSession>[0] = {}) {
  const session = startSession({ messages: MESSAGES, ...options });
  await session.settle();
  session.io.take();
  await session.send('USER alice');
  expect(await session.send('PASS pw-alice')).toMatch(/^\+OK Logged in, 3 messages/);
  return session;
}

describe('AUTHORIZATION', () => {
  it('greets with an APOP timestamp and moves authorization → transaction → update → closed', async () => {
    const session = await loggedIn();
    expect(await session.send('QUIT')).toMatch(/^\+OK Logging out, 0 messages deleted/);
    expect(session.actor.getSnapshot().status).toBe('done');
    expect(session.io.closed).toBe(true);
    const sequence = session.states.filter((s, i, all) => s !== all[i - 1]);
    expect(sequence).toEqual([
      '{"authorization":"idle"}',
      '{"authorization":"verifying"}',
      '{"authorization":"opening"}',
      '{"transaction":"idle"}',
      '"update"',
      '"closed"',
    ]);
  });

  it('puts the challenge in the greeting only when APOP is enabled', async () => {
    const withApop = startSession();
    expect(withApop.io.take()).toBe(`+OK test POP3 Ready ${CHALLENGE}\r\n`);
    const without = startSession({ authtypes: ['USERPASS'] });
    expect(without.io.take()).toBe('+OK test POP3 Ready\r\n');
  });

  it('accepts APOP with the right digest and refuses a wrong one with [AUTH]', async () => {
    const session = startSession({ messages: MESSAGES });
    session.io.take();
    expect(await session.send('APOP alice 0123456789abcdef0123456789abcdef')).toBe('-ERR [AUTH] Authentication failed\r\n');
    const digest = createHash('md5').update(CHALLENGE + 'pw-alice').digest('hex');
    expect(await session.send(`APOP alice ${digest}`)).toMatch(/^\+OK Logged in/);
  });

  it('answers APOP for an account with a hashed password with a clean [AUTH]', async () => {
    const session = startSession();
    session.io.take();
    expect(await session.send('APOP bob 0123456789abcdef0123456789abcdef')).toBe('-ERR [AUTH] APOP is not available for this account\r\n');
  });

  it('keeps PASS with spaces intact and refuses PASS without USER', async () => {
    const session = startSession({ messages: MESSAGES });
    session.io.take();
    expect(await session.send('PASS pw bob')).toBe('-ERR Send USER first\r\n');
    await session.send('USER bob');
    expect(await session.send('PASS pw bob')).toMatch(/^\+OK Logged in/);
  });

  it('forgets USER when another command comes between USER and PASS', async () => {
    const session = startSession();
    session.io.take();
    await session.send('USER alice');
    await session.send('CAPA');
    expect(await session.send('PASS pw-alice')).toBe('-ERR Send USER first\r\n');
  });

  it('closes after the configured number of authentication failures', async () => {
    const session = startSession({ authFailures: 2 });
    session.io.take();
    await session.send('USER alice');
    expect(await session.send('PASS wrong')).toBe('-ERR [AUTH] Authentication failed\r\n');
    await session.send('USER alice');
    expect(await session.send('PASS wrong')).toBe('-ERR [AUTH] Authentication failed\r\n-ERR Too many authentication failures, closing\r\n');
    expect(session.io.closed).toBe(true);
  });

  it('answers [SYS/TEMP], not [AUTH], when the Directory is down', async () => {
    const session = startSession({ authError: directoryDown() });
    session.io.take();
    await session.send('USER alice');
    expect(await session.send('PASS pw-alice')).toMatch(/^-ERR \[SYS\/TEMP\]/);
  });

  it('answers [IN-USE] when the mailbox is locked and [SYS/TEMP] when the store fails', async () => {
    const locked = startSession({ openError: new MailboxLockedError('alice', 'pid 1') });
    locked.io.take();
    await locked.send('USER alice');
    expect(await locked.send('PASS pw-alice')).toBe('-ERR [IN-USE] Mailbox is locked by another POP3 session\r\n');
    expect(locked.actor.getSnapshot().value).toEqual({ authorization: 'idle' });
    const broken = startSession({ openError: new StoreUnavailableError('EIO') });
    broken.io.take();
    await broken.send('USER alice');
    expect(await broken.send('PASS pw-alice')).toMatch(/^-ERR \[SYS\/TEMP\]/);
  });

  it('refuses transaction commands before login and counts them as bad commands', async () => {
    const session = startSession({ badCommands: 3 });
    session.io.take();
    expect(await session.send('STAT')).toBe('-ERR STAT is not allowed before login\r\n');
    expect(await session.send('FOO')).toBe('-ERR Unknown command: FOO\r\n');
    expect(await session.send('RETR 1')).toBe('-ERR Too many bad commands, closing\r\n');
    expect(session.io.closed).toBe(true);
  });
});

describe('SASL', () => {
  it('PLAIN with an initial response', async () => {
    const session = startSession({ security: 'implicit', messages: MESSAGES });
    session.io.take();
    expect(await session.send(`AUTH PLAIN ${b64('\0alice\0pw-alice')}`)).toMatch(/^\+OK Logged in/);
  });

  it('PLAIN with a continuation, and = as an empty initial response', async () => {
    const session = startSession({ security: 'implicit', messages: MESSAGES });
    session.io.take();
    expect(await session.send('AUTH PLAIN')).toBe('+ \r\n');
    expect(await session.send(b64('\0alice\0pw-alice'))).toMatch(/^\+OK Logged in/);
    const empty = startSession({ security: 'implicit' });
    empty.io.take();
    expect(await empty.send('AUTH PLAIN =')).toMatch(/^-ERR \[AUTH\]/);
  });

  it('LOGIN asks for the username and the password', async () => {
    const session = startSession({ messages: MESSAGES });
    session.io.take();
    expect(await session.send('AUTH LOGIN')).toBe(`+ ${b64('Username:')}\r\n`);
    expect(await session.send(b64('alice'))).toBe(`+ ${b64('Password:')}\r\n`);
    expect(await session.send(b64('pw-alice'))).toMatch(/^\+OK Logged in/);
  });

  it('CRAM-MD5 against the session challenge', async () => {
    const session = startSession({ messages: MESSAGES });
    session.io.take();
    expect(await session.send('AUTH CRAM-MD5')).toBe(`+ ${b64(CHALLENGE)}\r\n`);
    const digest = createHmac('md5', 'pw-alice').update(CHALLENGE).digest('hex');
    expect(await session.send(b64(`alice ${digest}`))).toMatch(/^\+OK Logged in/);
  });

  it('* cancels an exchange and bad base64 is refused', async () => {
    const session = startSession();
    session.io.take();
    await session.send('AUTH LOGIN');
    expect(await session.send('*')).toBe('-ERR Authentication cancelled\r\n');
    await session.send('AUTH LOGIN');
    expect(await session.send('!!!not-base64')).toMatch(/^-ERR \[AUTH\] Invalid base64/);
  });

  it('bare AUTH lists the mechanisms usable now', async () => {
    const session = startSession({ security: 'latent' });
    session.io.take();
    expect(await session.send('AUTH')).toBe('+OK Available mechanisms\r\nLOGIN\r\nCRAM-MD5\r\n.\r\n');
  });

  it('unknown mechanisms are refused', async () => {
    const session = startSession();
    session.io.take();
    expect(await session.send('AUTH GSSAPI')).toBe('-ERR Unsupported authentication mechanism GSSAPI\r\n');
  });
});

describe('authtypes_ssl and STLS', () => {
  it('on a latent listener PLAIN needs STLS first; after STLS it works and CAPA changes', async () => {
    const session = startSession({ security: 'latent', messages: MESSAGES });
    session.io.take();
    const before = await session.send('CAPA');
    expect(before).toContain('STLS\r\n');
    expect(before).toContain('SASL LOGIN CRAM-MD5\r\n');
    expect(before).toContain('USER\r\n');
    expect(await session.send(`AUTH PLAIN ${b64('\0alice\0pw-alice')}`)).toBe('-ERR [AUTH] PLAIN is not allowed without TLS; use STLS first\r\n');
    expect(await session.send('STLS')).toBe('+OK Begin TLS negotiation\r\n');
    expect(session.io.tlsStarted).toBe(1);
    const after = await session.send('CAPA');
    expect(after).not.toContain('STLS');
    expect(after).toContain('SASL PLAIN LOGIN CRAM-MD5 EXTERNAL\r\n');
    expect(await session.send('STLS')).toBe('-ERR STLS not available here\r\n');
    expect(await session.send('AUTH EXTERNAL =')).toMatch(/^\+OK Logged in/);
  });

  it('latent with mandatory=Y refuses every login before STLS', async () => {
    const session = startSession({ security: 'latent-mandatory' });
    session.io.take();
    expect(await session.send('USER alice')).toBe('-ERR [AUTH] USER/PASS is not allowed without TLS; use STLS first\r\n');
    expect(await session.send('CAPA')).not.toContain('USER\r\n');
  });

  it('authtypes - disables every login, authtypes_ssl all forbids them in plaintext', async () => {
    const none = startSession({ authtypes: [] });
    none.io.take();
    expect(await none.send('USER alice')).toBe('-ERR [AUTH] USER/PASS is disabled on this server\r\n');
    const sslOnly = startSession({ security: 'latent', authtypesSsl: ['USERPASS', 'APOP', 'SASL_PLAIN', 'SASL_LOGIN', 'SASL_CRAM_MD5', 'SASL_EXTERNAL'] });
    sslOnly.io.take();
    expect(await sslOnly.send('USER alice')).toMatch(/not allowed without TLS/);
  });

  it('STLS on a listener without TLS is refused', async () => {
    const session = startSession({ security: 'none' });
    session.io.take();
    expect(await session.send('CAPA')).not.toContain('STLS');
    expect(await session.send('STLS')).toBe('-ERR STLS not available here\r\n');
  });
});

describe('TRANSACTION and UPDATE', () => {
  it('STAT, LIST, UIDL, RETR, TOP with fixed numbering after DELE', async () => {
    const session = await loggedIn();
    expect(await session.send('STAT')).toMatch(/^\+OK 3 \d+\r\n$/);
    expect(await session.send('UIDL')).toBe('+OK Unique-ID listing follows\r\n1 u1\r\n2 u2\r\n3 u3\r\n.\r\n');
    expect(await session.send('DELE 2')).toBe('+OK Message 2 deleted\r\n');
    expect(await session.send('DELE 2')).toBe('-ERR Message 2 already deleted\r\n');
    expect(await session.send('UIDL')).toBe('+OK Unique-ID listing follows\r\n1 u1\r\n3 u3\r\n.\r\n');
    expect(await session.send('UIDL 3')).toBe('+OK 3 u3\r\n');
    expect(await session.send('LIST 2')).toBe('-ERR Message 2 already deleted\r\n');
    expect(await session.send('RETR 9')).toBe('-ERR No such message\r\n');
    expect(await session.send('RETR x')).toBe('-ERR Invalid message number\r\n');
    expect(await session.send('RETR 1')).toBe('+OK 23 octets\r\nSubject: one\r\n\r\nfirst\r\n.\r\n');
    expect(await session.send('TOP 3 1')).toBe('+OK Top of message follows\r\nSubject: three\r\n\r\nthird\r\n.\r\n');
    expect(await session.send('QUIT')).toMatch(/^\+OK Logging out, 1 messages deleted/);
    expect(session.calls.commit).toEqual([[1]]);
  });

  it('dot-stuffs lines starting with a dot', async () => {
    const session = await loggedIn();
    expect(await session.send('RETR 2')).toContain('\r\n..dotted\r\n');
  });

  it('RSET unmarks everything', async () => {
    const session = await loggedIn();
    await session.send('DELE 1');
    expect(await session.send('RSET')).toMatch(/^\+OK Maildrop has 3 messages/);
    await session.send('QUIT');
    expect(session.calls.commit).toEqual([[]]);
  });

  it('a dropped connection deletes nothing and releases the mailbox', async () => {
    const session = await loggedIn();
    await session.send('DELE 1');
    session.raw({ type: 'DISCONNECTED' });
    await session.settle();
    expect(session.calls.commit).toEqual([]);
    expect(session.calls.release).toBe(1);
  });

  it('shutdown answers [SYS/TEMP] and deletes nothing', async () => {
    const session = await loggedIn();
    await session.send('DELE 1');
    session.raw({ type: 'SHUTDOWN' });
    await session.settle();
    expect(session.io.take()).toBe('-ERR [SYS/TEMP] Server shutting down\r\n');
    expect(session.calls.commit).toEqual([]);
    expect(session.calls.release).toBe(1);
  });

  it('expire 0 deletes every retrieved message at UPDATE', async () => {
    const session = await loggedIn({ expire: 0 });
    expect(await session.send('CAPA')).toContain('EXPIRE 0\r\n');
    await session.send('RETR 1');
    await session.send('TOP 2 0');
    await session.send('RETR 3');
    await session.send('QUIT');
    expect(session.calls.commit).toEqual([[0, 2]]);
  });

  it('answers RETR and TOP within the command\'s turn when the store reads at once, with no state change', async () => {
    const session = await loggedIn({ expire: 0 });
    session.states.length = 0;
    expect(await session.send('RETR 1')).toBe('+OK 23 octets\r\nSubject: one\r\n\r\nfirst\r\n.\r\n');
    expect(await session.send('TOP 3 0')).toBe('+OK Top of message follows\r\nSubject: three\r\n\r\n.\r\n');
    expect(session.io.sends).toEqual(['now', 'now']);
    expect(session.states.some((state) => state.includes('sending'))).toBe(false);
    await session.send('QUIT');
    expect(session.calls.commit).toEqual([[0]]);
  });

  it('goes the sending way, with the same replies, when the store cannot read at once', async () => {
    const session = await loggedIn({ expire: 0, noReadNow: true });
    session.states.length = 0;
    expect(await session.send('RETR 1')).toBe('+OK 23 octets\r\nSubject: one\r\n\r\nfirst\r\n.\r\n');
    expect(await session.send('TOP 3 0')).toBe('+OK Top of message follows\r\nSubject: three\r\n\r\n.\r\n');
    expect(await session.send('NOOP')).toBe('+OK\r\n');
    expect(session.io.sends).toEqual(['later', 'later']);
    expect(session.states.filter((state) => state.includes('sending'))).toHaveLength(2);
    await session.send('QUIT');
    expect(session.calls.commit).toEqual([[0]]);
  });

  it('answers a pipelined RETR run in order, bad numbers inline, and marks what RETR sent for expire 0', async () => {
    const session = await loggedIn({ expire: 0 });
    session.raw({ type: 'RETR_RUN', items: [['1'], ['9'], ['3'], ['x']] });
    await session.settle();
    const replies = session.io.take();
    const one = replies.indexOf('+OK 23 octets');
    const noSuch = replies.indexOf('-ERR No such message');
    const three = replies.indexOf('+OK', one + 1);
    const invalid = replies.indexOf('-ERR Invalid message number');
    expect([one, noSuch, three, invalid].every((at) => at >= 0)).toBe(true);
    expect(one < noSuch && noSuch < three && three < invalid).toBe(true);
    expect(await session.send('QUIT')).toMatch(/^\+OK/);
    expect(session.calls.commit).toEqual([[0, 2]]);
  });

  it('answers a RETR run at once, with no state change, while the store reads at once', async () => {
    const session = await loggedIn({ expire: 0 });
    session.states.length = 0;
    session.raw({ type: 'RETR_RUN', items: [['1'], ['2'], ['3']] });
    await session.settle();
    expect(session.io.take().match(/^\+OK \d+ octets/gm)).toHaveLength(3);
    expect(session.io.sends).toEqual(['now', 'now', 'now']);
    expect(session.states.some((state) => state.includes('sending'))).toBe(false);
    await session.send('QUIT');
    expect(session.calls.commit).toEqual([[0, 1, 2]]);
  });

  it.each([
    { why: 'the store cannot read message 2 at once', options: { notNow: [1] }, takesMore: Infinity },
    { why: 'the connection takes no more after message 1', options: {}, takesMore: 1 },
  ])('finishes a RETR run the sending way, in order, when $why', async ({ options, takesMore }) => {
    const inOrder = await loggedIn({ expire: 0 });
    inOrder.raw({ type: 'RETR_RUN', items: [['1'], ['9'], ['2'], ['3']] });
    await inOrder.settle();
    const expected = inOrder.io.take();

    const session = await loggedIn({ expire: 0, ...options });
    session.io.takesMore = takesMore;
    session.states.length = 0;
    session.raw({ type: 'RETR_RUN', items: [['1'], ['9'], ['2'], ['3']] });
    await session.settle();
    expect(session.io.take()).toBe(expected);
    expect(session.io.sends).toEqual(['now', 'later', 'later']);
    expect(session.states.filter((state) => state.includes('sending'))).toHaveLength(1);
    await session.send('QUIT');
    expect(session.calls.commit).toEqual([[0, 1, 2]]);
  });

  it('is not taken before login: a RETR run in AUTHORIZATION is a bad command', async () => {
    const session = startSession({ messages: MESSAGES });
    await session.settle();
    session.io.take();
    session.raw({ type: 'RETR_RUN', items: [['1'], ['2']] });
    await session.settle();
    expect(session.io.take()).toMatch(/^-ERR /);
  });

  it('CAPA after login drops the login capabilities', async () => {
    const session = await loggedIn();
    const capa = await session.send('CAPA');
    expect(capa).toContain('EXPIRE NEVER\r\n');
    expect(capa).toContain('PIPELINING\r\n');
    expect(capa).not.toMatch(/^USER\r$/m);
    expect(capa).not.toContain('SASL');
    expect(await session.send('USER alice')).toBe('-ERR USER is not allowed after login\r\n');
  });

  it('an idle timeout ends the session without deleting', async () => {
    const session = await loggedIn();
    await session.send('DELE 1');
    session.raw({ type: 'TIMEOUT' });
    await session.settle();
    expect(session.io.take()).toBe('-ERR Disconnected for inactivity\r\n');
    expect(session.calls.commit).toEqual([]);
  });
});
