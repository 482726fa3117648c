/**
 * The retriever logs in to a real Dovecot with each login method alone (USERPASS, APOP,
 * SASL PLAIN / CRAM-MD5 / LOGIN, and SASL EXTERNAL with a client certificate over implicit TLS)
 * and downloads the whole mailbox; methods are tried in the order listed, a refused one falls
 * through to the next; a wrong password ends the run with exit 1 and touches nothing; the
 * transcript (pop3download.transcript) shows the dialogue with every secret masked.
 *
 * Everything runs through the real CLI: `node apps/mailnode fetch --once --config FILE`. Dovecot
 * accepts every mechanism it announces, so the "server refuses a method" case uses the small
 * fake server of fake-pop3.ts. The wrong-password test runs last: after failed logins Dovecot
 * delays every later login from the same address (auth penalty).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dovecotUnavailableReason, startDovecot, type DovecotInstance } from '../harness/dovecot.ts';
import { killAllTools } from '../harness/external-tool.ts';
import { fixed4k, manifest, verifyMaildir, type GeneratedMessage } from '../harness/mail-generator.ts';
import { makeTempDir, stopAllMailnodes } from '../harness/mailnode-process.ts';
import { makeTestPki, type CertFiles } from '../harness/pki.ts';
import {
  copyProblems,
  dovecotClient,
  explain,
  fetchConfig,
  lf,
  localMaildir,
  maildirFiles,
  readTranscript,
  remoteFiles,
  remotePassword,
  retrieverEnv,
  runFetch,
  sentBy,
  sessionsOf,
  splitReceived,
  type RetrieverEnv,
  type TranscriptLine,
} from './helpers.ts';
import { startFakePop3 } from './fake-pop3.ts';

const unavailable = dovecotUnavailableReason();

/** Remote users: one mailbox per test, so no test sees another's mail. */
const REMOTE_USERS = [
  'alice', // SASL EXTERNAL: the client certificate says CN=alice
  'userpass',
  'apop',
  'plain',
  'cram',
  'login',
  'initrsp',
  'order-a',
  'order-b',
  'wrong',
  'mask-userpass',
  'mask-apop',
  'mask-plain',
  'mask-login',
  'mask-cram',
  'mask-initrsp',
  'readable',
];

let dovecot: DovecotInstance;
let aliceCert: CertFiles;
const mail = new Map<string, GeneratedMessage[]>();

beforeAll(async () => {
  if (unavailable) return;
  const pkiDir = await makeTempDir('mailnode-retriever-pki-');
  const pki = await makeTestPki(pkiDir);
  aliceCert = await pki.clientCert('alice');
  dovecot = await startDovecot({ users: REMOTE_USERS.map((name) => ({ name, password: remotePassword(name) })), clientCa: pki.caCert });
  let seed = 100;
  for (const user of REMOTE_USERS) {
    const messages = fixed4k(user.startsWith('mask-') ? 3 : 12, seed++);
    mail.set(user, messages);
    await dovecot.fill(user, messages);
  }
});

afterAll(async () => {
  killAllTools();
  await dovecot?.stop();
  await stopAllMailnodes();
});

const messagesOf = (user: string): GeneratedMessage[] => mail.get(user)!;

/** Login commands the client sent (continuation lines of a SASL exchange are not commands). */
const loginCommands = (lines: readonly TranscriptLine[]): string[] => sentBy(lines).filter((line) => /^(USER|PASS|APOP|AUTH)\b/i.test(line));

/** The password as it may appear on the wire: plain, base64, inside a SASL PLAIN or LOGIN response. */
function secretForms(user: string, password: string): string[] {
  const b64 = (text: string) => Buffer.from(text, 'latin1').toString('base64');
  return [password, b64(password), b64(`\0${user}\0${password}`), b64(`${user}\0${user}\0${password}`)];
}

/** One fetch run of one client against Dovecot; checks that the whole mailbox arrived, byte for byte. */
async function fetchAll(env: RetrieverEnv, remoteUser: string, client: Record<string, unknown>, runEnv?: Record<string, string>) {
  const run = await runFetch(env, fetchConfig(env, [client]), [], { env: runEnv });
  const why = await explain(run, env, dovecot);
  expect(run.code, why).toBe(0);
  expect(run.stdout, why).toMatch(new RegExp(`^${client.id as string}: ok, ${messagesOf(remoteUser).length} messages`, 'm'));
  const copies = await maildirFiles(localMaildir(env, 'alice'));
  expect(copyProblems(copies, messagesOf(remoteUser), { received: 'required', recip: 'alice' }), why).toEqual([]);
  const verified = await verifyMaildir(localMaildir(env, 'alice'), manifest(messagesOf(remoteUser)));
  expect(verified.ok, JSON.stringify(verified)).toBe(true);
  // preserve N (the default): everything was deleted on Dovecot.
  expect((await remoteFiles(dovecot, remoteUser)).length, why).toBe(0);
  const lines = await readTranscript(env.transcript);
  const sessions = sessionsOf(lines, client.id as string);
  expect(sessions, why).toHaveLength(1);
  // Masking hides secrets only: the rest of the dialogue stays readable after the login.
  expect(sentBy(sessions[0]!), why).toEqual(expect.arrayContaining(['LIST', 'UIDL', 'RETR 1', 'DELE 1', 'QUIT']));
  return { run, lines: sessions[0]!, why };
}

describe.skipIf(unavailable)('retriever login methods against Dovecot', () => {
  it('USERPASS alone (password_file): USER, PASS masked in the transcript', async () => {
    const env = await retrieverEnv();
    const passwordFile = join(env.dir, 'remote-password');
    await writeFile(passwordFile, `${remotePassword('userpass')}\n`, { mode: 0o600 });
    const client = dovecotClient(dovecot, 'up', 'userpass', { server: { authtypes: 'USERPASS', password: undefined, password_file: passwordFile } });
    const { lines, why } = await fetchAll(env, 'userpass', client);
    expect(loginCommands(lines), why).toEqual(['USER userpass', 'PASS ****']);
    expect(await readFile(env.transcript, 'latin1')).not.toContain(remotePassword('userpass'));
  });

  it('APOP alone (password_env): the digest is masked', async () => {
    const env = await retrieverEnv();
    const client = dovecotClient(dovecot, 'apop', 'apop', { server: { authtypes: 'APOP', password: undefined, password_env: 'MAILNODE_TEST_APOP_PW' } });
    const { lines, why } = await fetchAll(env, 'apop', client, { MAILNODE_TEST_APOP_PW: remotePassword('apop') });
    expect(loginCommands(lines), why).toEqual(['APOP apop ****']);
    // Dovecot's greeting carried the APOP timestamp the digest was made from.
    expect(lines.find((line) => line.dir === 'S:')?.text, why).toMatch(/^\+OK .*<[^>]+@[^>]+>/);
  });

  it.each([
    ['SASL_PLAIN', 'plain', 'AUTH PLAIN'],
    ['SASL_CRAM_MD5', 'cram', 'AUTH CRAM-MD5'],
    ['SASL_LOGIN', 'login', 'AUTH LOGIN'],
  ])('%s alone', async (authtype, remoteUser, command) => {
    const env = await retrieverEnv();
    const client = dovecotClient(dovecot, remoteUser, remoteUser, { server: { authtypes: authtype } });
    const { lines, why } = await fetchAll(env, remoteUser, client);
    expect(loginCommands(lines), why).toEqual([command]);
    // initrsp N: the server's challenge (`+ ...`) came before the client's response.
    const auth = lines.findIndex((line) => line.dir === 'C:' && line.text === command);
    expect(lines[auth + 1], why).toMatchObject({ dir: 'S:' });
    expect(lines[auth + 1]!.text, why).toMatch(/^\+( |$)/);
  });

  it('SASL_EXTERNAL alone: client certificate CN=alice over implicit TLS', async () => {
    const env = await retrieverEnv();
    const client = dovecotClient(dovecot, 'ext', 'alice', {
      server: { address: `127.0.0.1:${dovecot.tlsPort}`, authtypes: 'SASL_EXTERNAL', username: undefined, password: undefined },
      ssl: { latent: 'N', ca: dovecot.caFile, cert: aliceCert.cert, key: aliceCert.key },
    });
    const { lines, why } = await fetchAll(env, 'alice', client);
    expect(loginCommands(lines), why).toHaveLength(1);
    expect(loginCommands(lines)[0], why).toMatch(/^AUTH EXTERNAL\b/);
    expect(lines.some((line) => line.dir === '--' && /\(implicit\)/.test(line.text)), why).toBe(true);
  });

  it('tries the methods in the order listed: the first one that works is the only one used', async () => {
    const env = await retrieverEnv();
    const cramFirst = dovecotClient(dovecot, 'cram-first', 'order-a', { server: { authtypes: 'SASL_CRAM_MD5 | USERPASS' } });
    const userFirst = dovecotClient(dovecot, 'user-first', 'order-b', { server: { authtypes: 'USERPASS | SASL_CRAM_MD5' }, recip: 'bob' });
    const run = await runFetch(env, fetchConfig(env, [cramFirst, userFirst]));
    const why = await explain(run, env, dovecot);
    expect(run.code, why).toBe(0);
    const lines = await readTranscript(env.transcript);
    expect(loginCommands(sessionsOf(lines, 'cram-first')[0] ?? []), why).toEqual(['AUTH CRAM-MD5']);
    expect(loginCommands(sessionsOf(lines, 'user-first')[0] ?? []), why).toEqual(['USER order-b', 'PASS ****']);
    expect(copyProblems(await maildirFiles(localMaildir(env, 'alice')), messagesOf('order-a'), { received: 'required' }), why).toEqual([]);
    expect(copyProblems(await maildirFiles(localMaildir(env, 'bob')), messagesOf('order-b'), { received: 'required' }), why).toEqual([]);
  });

  it('falls through to the next method when the server refuses one (SASL_CRAM_MD5 | USERPASS, CRAM-MD5 refused)', async () => {
    // Dovecot accepts every method it announces, so a small fake server does the refusing.
    const messages = [1, 2, 3].map((i) => ({ uidl: `fb-${i}`, data: `Message-ID: <fallback-${i}@fake.test>\r\nSubject: fallback ${i}\r\n\r\n.line ${i}\r\n` }));
    const fake = await startFakePop3({ users: { fallback: 'pw-fallback' }, messages });
    try {
      const env = await retrieverEnv();
      const client = {
        id: 'fallback',
        recip: 'alice',
        freq: 0,
        server: { address: `127.0.0.1:${fake.port}`, username: 'fallback', password: 'pw-fallback', authtypes: 'SASL_CRAM_MD5 | USERPASS' },
      };
      const run = await runFetch(env, fetchConfig(env, [client]));
      const why = await explain(run, env);
      expect(run.code, why).toBe(0);
      expect(fake.connections, why).toHaveLength(1);
      const logins = fake.connections[0]!.filter((line) => /^(USER|PASS|APOP|AUTH)\b/.test(line));
      expect(logins, why).toEqual(['AUTH CRAM-MD5', 'USER fallback', 'PASS pw-fallback']);
      const session = sessionsOf(await readTranscript(env.transcript), 'fallback')[0] ?? [];
      const refusal = session.findIndex((line) => line.dir === 'C:' && line.text === 'AUTH CRAM-MD5') + 1;
      expect(session[refusal]?.text, why).toMatch(/^-ERR/);
      const copies = await maildirFiles(localMaildir(env, 'alice'));
      expect(copies.map((copy) => splitReceived(lf(copy.bytes)).rest.toString('latin1')).sort(), why).toEqual(messages.map((m) => m.data.replaceAll('\r\n', '\n')).sort());
      expect([...fake.deleted].sort(), why).toEqual(['fb-1', 'fb-2', 'fb-3']);
    } finally {
      await fake.stop();
    }
  });

  it('initrsp Y: the SASL PLAIN initial response rides on the AUTH line, masked', async () => {
    const env = await retrieverEnv();
    const client = dovecotClient(dovecot, 'initrsp', 'initrsp', { server: { authtypes: 'SASL_PLAIN', initrsp: 'Y' } });
    const { lines, why } = await fetchAll(env, 'initrsp', client);
    expect(loginCommands(lines), why).toEqual(['AUTH PLAIN ****']);
    const auth = lines.findIndex((line) => line.dir === 'C:' && line.text.startsWith('AUTH PLAIN'));
    // No challenge: the very next line is the server's +OK.
    expect(lines[auth + 1], why).toMatchObject({ dir: 'S:' });
    expect(lines[auth + 1]!.text, why).toMatch(/^\+OK/);
    expect(sentBy(lines).slice(sentBy(lines).indexOf('AUTH PLAIN ****') + 1)[0], why).not.toMatch(/^[A-Za-z0-9+/=]{8,}$/);
  });

  it('the transcript never holds a password, in any form, whichever method logged in', async () => {
    const env = await retrieverEnv();
    const methods: Array<[string, string, Record<string, unknown>]> = [
      ['mask-userpass', 'USERPASS', {}],
      ['mask-apop', 'APOP', {}],
      ['mask-plain', 'SASL_PLAIN', {}],
      ['mask-login', 'SASL_LOGIN', {}],
      ['mask-cram', 'SASL_CRAM_MD5', {}],
      ['mask-initrsp', 'SASL_PLAIN', { initrsp: 'Y' }],
    ];
    const clients = methods.map(([user, authtype, server]) => dovecotClient(dovecot, user, user, { preserve: 'Y', server: { authtypes: authtype, ...server } }));
    const run = await runFetch(env, fetchConfig(env, clients));
    const why = await explain(run, env, dovecot);
    expect(run.code, why).toBe(0);
    const lines = await readTranscript(env.transcript);
    const leaks: string[] = [];
    for (const [user] of methods) {
      const session = sessionsOf(lines, user)[0];
      expect(session, `${user}: no session in the transcript\n${why}`).toBeDefined();
      const sent = sentBy(session!).join('\n');
      for (const form of secretForms(user, remotePassword(user))) if (sent.includes(form)) leaks.push(`${user}: transcript shows ${JSON.stringify(form)}`);
    }
    const everything = [await readFile(env.transcript, 'latin1'), await readFile(env.logFile, 'latin1').catch(() => ''), run.stdout, run.stderr].join('\n');
    for (const [user] of methods) if (everything.includes(remotePassword(user))) leaks.push(`${user}: password in clear in transcript/log/output`);
    expect(leaks, why).toEqual([]);
  });

  it('refuses a config file that holds a password and is readable by others (exit 78), and fetches nothing', async () => {
    const env = await retrieverEnv();
    const client = dovecotClient(dovecot, 'readable', 'readable');
    const run = await runFetch(env, fetchConfig(env, [client]), [], { mode: 0o644 });
    const why = await explain(run, env, dovecot);
    expect(run.code, why).toBe(78);
    expect(run.stderr, why).toMatch(/password/);
    expect(run.stderr, why).toMatch(/chmod 600/);
    expect((await remoteFiles(dovecot, 'readable')).length, why).toBe(messagesOf('readable').length);
    expect(await maildirFiles(localMaildir(env, 'alice')), why).toEqual([]);
  });

  // Last: Dovecot slows down every later login from 127.0.0.1 after failed ones (auth penalty).
  it('a wrong password: exit 1, nothing delivered, nothing deleted on Dovecot, no RETR or DELE sent', async () => {
    const env = await retrieverEnv();
    const client = dovecotClient(dovecot, 'wrong', 'wrong', { server: { password: 'not-the-password' } });
    const run = await runFetch(env, fetchConfig(env, [client]));
    const why = await explain(run, env, dovecot);
    expect(run.code, why).toBe(1);
    expect(run.stdout, why).toMatch(/^wrong: FAILED at auth: login refused: USERPASS: .*SASL_PLAIN: /m);
    expect(await maildirFiles(localMaildir(env, 'alice')), why).toEqual([]);
    const remote = await verifyMaildir(dovecot.maildirOf('wrong'), manifest(messagesOf('wrong')));
    expect(remote.ok, JSON.stringify(remote)).toBe(true);
    const sent = sentBy(sessionsOf(await readTranscript(env.transcript), 'wrong')[0] ?? []);
    // The default list, USERPASS | SASL_PLAIN, was tried in order.
    expect(sent.filter((line) => /^(USER|PASS|AUTH)\b/.test(line)), why).toEqual(['USER wrong', 'PASS ****', 'AUTH PLAIN']);
    expect(sent.filter((line) => /^(RETR|DELE|UIDL|LIST)\b/.test(line)), why).toEqual([]);
  });
});
