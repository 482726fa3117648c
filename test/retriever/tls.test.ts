/**
 * TLS towards the remote server: implicit TLS (ssl.latent N) and STLS (ssl.latent Y) against a
 * real Dovecot with its CA given in ssl.ca; without ssl.ca, or with a servername the certificate
 * does not name, the run fails at the TLS stage, says which check failed, exits 1 and deletes
 * nothing. A server that does not offer STLS (or answers it and then does not speak TLS) never
 * sees a login: a small fake server records every line it received.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dovecotUnavailableReason, startDovecot, type DovecotInstance } from '../harness/dovecot.ts';
import { killAllTools } from '../harness/external-tool.ts';
import { fixed4k, manifest, verifyMaildir, type GeneratedMessage } from '../harness/mail-generator.ts';
import { stopAllMailnodes } from '../harness/mailnode-process.ts';
import { startFakePop3, type FakePop3Options } from './fake-pop3.ts';
import {
  copyProblems,
  dovecotClient,
  explain,
  fetchConfig,
  localMaildir,
  maildirFiles,
  readTranscript,
  remoteFiles,
  remotePassword,
  retrieverEnv,
  runFetch,
  sentBy,
  sessionsOf,
} from './helpers.ts';

const unavailable = dovecotUnavailableReason();
const REMOTE_USERS = ['implicit', 'stls', 'noca-implicit', 'noca-stls', 'sni-ok', 'sni-bad'];
const LOGIN = /^(USER|PASS|APOP|AUTH)\b/i;

let dovecot: DovecotInstance;
const mail = new Map<string, GeneratedMessage[]>();

beforeAll(async () => {
  if (unavailable) return;
  dovecot = await startDovecot({ users: REMOTE_USERS.map((name) => ({ name, password: remotePassword(name) })) });
  let seed = 200;
  for (const user of REMOTE_USERS) {
    const messages = fixed4k(10, seed++);
    mail.set(user, messages);
    await dovecot.fill(user, messages);
  }
});

afterAll(async () => {
  killAllTools();
  await dovecot?.stop();
  await stopAllMailnodes();
});

describe.skipIf(unavailable)('retriever TLS against Dovecot', () => {
  it('implicit TLS (ssl.latent N, ssl.ca = Dovecot CA) downloads everything; no STLS is sent', async () => {
    const env = await retrieverEnv();
    const client = dovecotClient(dovecot, 'implicit', 'implicit', {
      server: { address: `127.0.0.1:${dovecot.tlsPort}` },
      ssl: { latent: 'N', ca: dovecot.caFile },
    });
    const run = await runFetch(env, fetchConfig(env, [client]));
    const why = await explain(run, env, dovecot);
    expect(run.code, why).toBe(0);
    expect(copyProblems(await maildirFiles(localMaildir(env, 'alice')), mail.get('implicit')!, { received: 'required', recip: 'alice' }), why).toEqual([]);
    expect(await remoteFiles(dovecot, 'implicit'), why).toHaveLength(0);
    const session = sessionsOf(await readTranscript(env.transcript), 'implicit')[0] ?? [];
    expect(session.some((line) => line.dir === '--' && line.text.endsWith('(implicit)')), why).toBe(true);
    expect(sentBy(session), why).not.toContain('STLS');
    expect(sentBy(session).filter((line) => LOGIN.test(line)), why).toEqual(['USER implicit', 'PASS ****']);
  });

  it('STLS (ssl.latent Y, capa Y): CAPA, STLS, CAPA again, and only then the login', async () => {
    const env = await retrieverEnv();
    const client = dovecotClient(dovecot, 'stls', 'stls', { capa: 'Y', ssl: { latent: 'Y', ca: dovecot.caFile } });
    const run = await runFetch(env, fetchConfig(env, [client]));
    const why = await explain(run, env, dovecot);
    expect(run.code, why).toBe(0);
    expect(copyProblems(await maildirFiles(localMaildir(env, 'alice')), mail.get('stls')!, { received: 'required', recip: 'alice' }), why).toEqual([]);
    expect(await remoteFiles(dovecot, 'stls'), why).toHaveLength(0);
    const session = sessionsOf(await readTranscript(env.transcript), 'stls')[0] ?? [];
    expect(sentBy(session).slice(0, 5), why).toEqual(['CAPA', 'STLS', 'CAPA', 'USER stls', 'PASS ****']);
    expect(session.some((line) => line.dir === '--' && line.text.endsWith('(stls)')), why).toBe(true);
  });

  it.each([
    ['noca-implicit', 'N'],
    ['noca-stls', 'Y'],
  ])('%s: without ssl.ca the certificate check fails, names the check, exit 1, nothing deleted, no login sent', async (user, latent) => {
    const env = await retrieverEnv();
    const port = latent === 'Y' ? dovecot.plainPort : dovecot.tlsPort;
    const client = dovecotClient(dovecot, user, user, { server: { address: `127.0.0.1:${port}` }, ssl: { latent } });
    const run = await runFetch(env, fetchConfig(env, [client]));
    const why = await explain(run, env, dovecot);
    expect(run.code, why).toBe(1);
    expect(run.stdout, why).toMatch(new RegExp(`^${user}: FAILED at tls: TLS certificate check failed: .*self-signed.*not trusted`, 'm'));
    expect(run.stdout, why).toMatch(/DEPTH_ZERO_SELF_SIGNED_CERT/);
    const remote = await verifyMaildir(dovecot.maildirOf(user), manifest(mail.get(user)!));
    expect(remote.ok, JSON.stringify(remote)).toBe(true);
    expect(await maildirFiles(localMaildir(env, 'alice')), why).toEqual([]);
    const session = sessionsOf(await readTranscript(env.transcript), user)[0] ?? [];
    expect(sentBy(session), why).toEqual(latent === 'Y' ? ['STLS'] : []);
  });

  it('ssl.servername: the name the certificate holds passes, another name fails the host name check', async () => {
    const env = await retrieverEnv();
    const good = dovecotClient(dovecot, 'sni-ok', 'sni-ok', {
      server: { address: `127.0.0.1:${dovecot.tlsPort}` },
      ssl: { latent: 'N', ca: dovecot.caFile, servername: 'localhost' },
    });
    const bad = dovecotClient(dovecot, 'sni-bad', 'sni-bad', {
      recip: 'bob',
      server: { address: `127.0.0.1:${dovecot.tlsPort}` },
      ssl: { latent: 'N', ca: dovecot.caFile, servername: 'mail.example.org' },
    });
    const run = await runFetch(env, fetchConfig(env, [good, bad]));
    const why = await explain(run, env, dovecot);
    expect(run.code, why).toBe(1);
    expect(run.stdout, why).toMatch(/^sni-ok: ok, 10 messages/m);
    expect(run.stdout, why).toMatch(/^sni-bad: FAILED at tls: TLS certificate check failed: the server certificate does not name this host \(ERR_TLS_CERT_ALTNAME_INVALID\)/m);
    expect(copyProblems(await maildirFiles(localMaildir(env, 'alice')), mail.get('sni-ok')!, { received: 'required' }), why).toEqual([]);
    expect(await maildirFiles(localMaildir(env, 'bob')), why).toEqual([]);
    const remote = await verifyMaildir(dovecot.maildirOf('sni-bad'), manifest(mail.get('sni-bad')!));
    expect(remote.ok, JSON.stringify(remote)).toBe(true);
  });
});

describe('retriever STLS against a server that does not do it', () => {
  const message = { uidl: 'u1', data: 'Message-ID: <stls@fake.test>\r\nSubject: secret\r\n\r\nbody\r\n' };

  it.each<[string, FakePop3Options, string, RegExp[]]>([
    ['STLS refused', { stls: 'refuse' }, 'N', [/^STLS$/]],
    ['STLS refused, CAPA without STLS', { stls: 'refuse', capa: ['USER', 'UIDL'] }, 'Y', [/^CAPA$/, /^STLS$/]],
    ['+OK to STLS, then plaintext instead of a TLS server hello', { stls: 'plaintext-after-ok' }, 'N', [/^STLS$/, /^<\d+ bytes after STLS>$/]],
    // The handshake must be bounded by pop3download.timeout (2 s here) like every other wait.
    ['+OK to STLS, then silence', { stls: 'silent-after-ok' }, 'N', [/^STLS$/, /^<\d+ bytes after STLS>$/]],
  ])('%s: the session ends before any login; USER/PASS never travel in plaintext', async (_name, behaviour, capa, expected) => {
    const fake = await startFakePop3({ ...behaviour, users: { victim: 'pw-victim' }, messages: [message] });
    try {
      const env = await retrieverEnv();
      const client = {
        id: 'nostls',
        recip: 'alice',
        freq: 0,
        capa,
        server: { address: `127.0.0.1:${fake.port}`, username: 'victim', password: 'pw-victim', authtypes: 'USERPASS | APOP | SASL_PLAIN | SASL_LOGIN | SASL_CRAM_MD5' },
        ssl: { latent: 'Y' },
      };
      const started = Date.now();
      const run = await runFetch(env, fetchConfig(env, [client], { timeout: '2s' }), [], { timeoutMs: 10_000 });
      const why = await explain(run, env);
      expect(run.timedOut, `fetch --once still running after 10 s (pop3download.timeout is 2 s)\n${why}`).toBe(false);
      expect(run.code, why).toBe(1);
      expect(run.stdout, why).toMatch(/^nostls: FAILED at tls: /m);
      expect(Date.now() - started, why).toBeLessThan(8_000);
      expect(fake.connections, why).toHaveLength(1);
      const received = fake.received();
      expect(received.length, `${JSON.stringify(received)}\n${why}`).toBe(expected.length);
      expected.forEach((pattern, index) => expect(received[index], why).toMatch(pattern));
      expect(fake.received().filter((line) => LOGIN.test(line) || line.includes('pw-victim')), why).toEqual([]);
      expect(fake.deleted.size, why).toBe(0);
      expect(await maildirFiles(localMaildir(env, 'alice')), why).toEqual([]);
    } finally {
      await fake.stop();
    }
  });
});
