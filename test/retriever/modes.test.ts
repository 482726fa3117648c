/**
 * The three delivery modes, from a real Dovecot, through the real CLI:
 *   (a) Maildir (default): byte-identical copies below mailnode's Received header (or without it,
 *       omitreceivedheader Y); a recip that is no local user stops the run before any download;
 *   (b) downloads_directory with %U%: one finished .eml file per message, no temp files left;
 *       also the one-off command line (`fetch --once --server ... --downloads-directory`);
 *   (c) SMTP / LMTP injection into nodemailer's smtp-server: envelope sender and recipients
 *       (with alias expansion), identical content; a 4xx or 5xx answer to DATA leaves that message
 *       on Dovecot, exits 1, and the next run delivers it exactly once.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dovecotUnavailableReason, type DovecotInstance } from '../harness/dovecot.ts';
import { killAllTools } from '../harness/external-tool.ts';
import { fixed4k, manifest, mixed, verifyMaildir, type GeneratedMessage } from '../harness/mail-generator.ts';
import { stopAllMailnodes } from '../harness/mailnode-process.ts';
import {
  copyProblems,
  directoryFiles,
  dovecotClient,
  explain,
  fetchConfig,
  lf,
  localMaildir,
  maildirFiles,
  messageIdOf,
  readFileText,
  readTranscript,
  remoteFiles,
  remotePassword,
  retrieverEnv,
  runFetch,
  runMailnode,
  sentBy,
  splitReceived,
  startFilledDovecot,
} from './helpers.ts';
import { startSmtpPeer, type SmtpPeer } from './smtp-peer.ts';

const unavailable = dovecotUnavailableReason();

let dovecot: DovecotInstance;
let mail = new Map<string, GeneratedMessage[]>();

/** Remote user → its messages. */
const REMOTE: Record<string, () => GeneratedMessage[]> = {
  'md-default': () => fixed4k(20, 300),
  'md-omit': () => fixed4k(20, 301),
  'md-norecip': () => fixed4k(5, 302),
  'dl-config': () => mixed(20, 303),
  'dl-oneoff': () => fixed4k(8, 304),
  smtp: () => fixed4k(10, 305),
  'smtp-alias-ext': () => fixed4k(4, 306),
  'smtp-alias-local': () => fixed4k(4, 307),
  lmtp: () => fixed4k(6, 308),
  'smtp-451': () => fixed4k(6, 309),
  'smtp-550': () => fixed4k(6, 310),
};

beforeAll(async () => {
  if (unavailable) return;
  ({ dovecot, mail } = await startFilledDovecot(REMOTE));
});

const peers: SmtpPeer[] = [];
afterEach(async () => {
  killAllTools();
  await Promise.all(peers.splice(0).map((peer) => peer.stop()));
});
afterAll(async () => {
  killAllTools();
  await dovecot?.stop();
  await stopAllMailnodes();
});

const messagesOf = (user: string) => mail.get(user)!;
const idsOf = (messages: readonly GeneratedMessage[]) => messages.map((message) => message.messageId).sort();

async function remoteIds(user: string): Promise<string[]> {
  return (await remoteFiles(dovecot, user)).map((file) => messageIdOf(file.bytes) ?? '?').sort();
}

describe.skipIf(unavailable)('Maildir mode', () => {
  it('delivers byte-identical copies with a Received header on top, deletes them on Dovecot, writes the audit log', async () => {
    const env = await retrieverEnv();
    const before = Date.now();
    const run = await runFetch(env, fetchConfig(env, [dovecotClient(dovecot, 'md', 'md-default')]));
    const why = await explain(run, env, dovecot);
    expect(run.code, why).toBe(0);
    expect(run.stdout, why).toMatch(/^md: ok, 20 messages, [\d.]+ MB, 20 deleted from the server/m);
    const dir = localMaildir(env, 'alice');
    const verified = await verifyMaildir(dir, manifest(messagesOf('md-default')));
    expect(verified.ok, JSON.stringify(verified)).toBe(true);
    const copies = await maildirFiles(dir);
    expect(copyProblems(copies, messagesOf('md-default'), { received: 'required', recip: 'alice' }), why).toEqual([]);
    const uidls = new Set<string>();
    for (const copy of copies) {
      const { received } = splitReceived(lf(copy.bytes));
      expect(received, copy.name).toMatchObject({ from: '127.0.0.1', by: 'mailnode.test', recip: 'alice' });
      // Dovecot's UIDLs (pop3_uidl_format %08Xu%08Xv) name the message in the trace header.
      expect(received!.id, copy.name).toMatch(/^[0-9a-fA-F]{16}$/);
      uidls.add(received!.id!);
      const when = Date.parse(received!.date);
      expect(when, received!.date).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 - 1000);
      expect(when, received!.date).toBeLessThanOrEqual(Date.now() + 1000);
    }
    expect(uidls.size).toBe(20);
    expect(await remoteFiles(dovecot, 'md-default'), why).toHaveLength(0);
    // Audit: one line per message: time, client, server, uidl, bytes, Message-ID, destination.
    const audit = (await readFileText(env.audit)).split('\n').filter(Boolean).map((line) => line.split(' '));
    expect(audit, why).toHaveLength(20);
    expect(audit.map((fields) => fields[5]).sort()).toEqual(idsOf(messagesOf('md-default')));
    expect(new Set(audit.map((fields) => fields[3]))).toEqual(uidls);
    for (const fields of audit) expect(fields.slice(1, 3).concat(fields[6]!)).toEqual(['md', `127.0.0.1:${dovecot.plainPort}`, 'maildir:alice']);
  });

  it('omitreceivedheader Y: each file is exactly the generated message', async () => {
    const env = await retrieverEnv();
    const run = await runFetch(env, fetchConfig(env, [dovecotClient(dovecot, 'omit', 'md-omit', { omitreceivedheader: 'Y' })]));
    const why = await explain(run, env, dovecot);
    expect(run.code, why).toBe(0);
    const copies = await maildirFiles(localMaildir(env, 'alice'));
    expect(copyProblems(copies, messagesOf('md-omit'), { received: 'absent' }), why).toEqual([]);
    const byId = new Map(messagesOf('md-omit').map((message) => [message.messageId, message.bytes]));
    for (const copy of copies) expect(copy.bytes.equals(byId.get(messageIdOf(copy.bytes)!)!), copy.name).toBe(true);
  });

  it('a recip that is not in the users file: exit 1 before any download, nothing deleted', async () => {
    const env = await retrieverEnv();
    const run = await runFetch(env, fetchConfig(env, [dovecotClient(dovecot, 'norecip', 'md-norecip', { recip: 'nobody' })]));
    const why = await explain(run, env, dovecot);
    expect(run.code, why).toBe(1);
    expect(run.stdout, why).toMatch(/^norecip: FAILED at recip: recip 'nobody' is not a user/m);
    expect(await remoteIds('md-norecip'), why).toEqual(idsOf(messagesOf('md-norecip')));
    expect(await maildirFiles(localMaildir(env, 'nobody')), why).toEqual([]);
    expect(await maildirFiles(localMaildir(env, 'alice')), why).toEqual([]);
    expect(sentBy(await readTranscript(env.transcript)), why).toEqual([]);
  });
});

describe.skipIf(unavailable)('downloads_directory mode', () => {
  it('%U% names the directory after recip; one finished .eml per message, identical bytes (a mixed set, one message > 1 MiB)', async () => {
    const messages = messagesOf('dl-config');
    expect(Math.max(...messages.map((message) => message.size))).toBeGreaterThanOrEqual(1024 * 1024);
    const env = await retrieverEnv();
    const client = dovecotClient(dovecot, 'dl', 'dl-config', { recip: 'carol', omitreceivedheader: 'Y', downloads_directory: join(env.dir, 'downloads', '%U%') });
    const run = await runFetch(env, fetchConfig(env, [client]));
    const why = await explain(run, env, dovecot);
    expect(run.code, why).toBe(0);
    const files = await directoryFiles(join(env.dir, 'downloads', 'carol'));
    expect(files.map((file) => file.name).filter((name) => !/^[^.].*\.eml$/.test(name)), why).toEqual([]);
    expect(files, why).toHaveLength(messages.length);
    expect(copyProblems(files, messages, { received: 'absent' }), why).toEqual([]);
    expect(await directoryFiles(join(env.dir, 'downloads', '%U%')), why).toEqual([]);
    expect(await remoteFiles(dovecot, 'dl-config'), why).toHaveLength(0);
    // The users file does not matter in this mode: nothing went to a Maildir.
    expect(await maildirFiles(localMaildir(env, 'carol')), why).toEqual([]);
  });

  it('the one-off command line: fetch --once --server --user --password-file --downloads-directory --preserve', async () => {
    const env = await retrieverEnv();
    const passwordFile = join(env.dir, 'password');
    await writeFile(passwordFile, `${remotePassword('dl-oneoff')}\n`, { mode: 0o600 });
    const target = join(env.dir, 'out', '%U%');
    const args = [
      'fetch', '--once',
      '--state-dir', env.stateDir,
      '--users', env.usersFile,
      '--server', `127.0.0.1:${dovecot.plainPort}`,
      '--user', 'dl-oneoff',
      '--password-file', passwordFile,
      '--authtypes', 'USERPASS',
      '--downloads-directory', target,
      '--preserve',
    ];
    const run = await runMailnode(args);
    const why = await explain(run, env, dovecot);
    expect(run.code, why).toBe(0);
    expect(run.stdout, why).toMatch(/^command-line: ok, 8 messages/m);
    // The one-off client's recip is `download`.
    const files = await directoryFiles(join(env.dir, 'out', 'download'));
    expect(files.every((file) => file.name.endsWith('.eml')), why).toBe(true);
    expect(copyProblems(files, messagesOf('dl-oneoff'), { received: 'required', recip: 'download' }), why).toEqual([]);
    // --preserve: Dovecot still has them all, and a second run fetches nothing new.
    expect(await remoteIds('dl-oneoff'), why).toEqual(idsOf(messagesOf('dl-oneoff')));
    const again = await runMailnode(args);
    expect(again.code, await explain(again, env, dovecot)).toBe(0);
    expect(again.stdout).toMatch(/^command-line: ok, 0 messages/m);
    expect(await directoryFiles(join(env.dir, 'out', 'download'))).toHaveLength(8);
  });
});

describe.skipIf(unavailable)('SMTP injection', () => {
  const SENDER = 'fetch@mailnode.test';

  /** A client injecting into `peer`; example.org is not a local domain (domains file: mailnode.test). */
  function smtpClient(id: string, remoteUser: string, peer: SmtpPeer, recip: string, lmtp = false) {
    return dovecotClient(dovecot, id, remoteUser, { recip, smtp: { sender: SENDER, host: `127.0.0.1:${peer.port}`, lmtp: lmtp ? 'Y' : 'N' } });
  }

  async function spoolLeft(env: { uidlDir: string }, id: string) {
    return (await directoryFiles(join(env.uidlDir, 'spool', id))).map((file) => file.name);
  }

  it('every message arrives once with the envelope sender and recip, content identical', async () => {
    const peer = await startSmtpPeer();
    peers.push(peer);
    const env = await retrieverEnv({ domains: 'mailnode.test\n' });
    const run = await runFetch(env, fetchConfig(env, [smtpClient('smtp', 'smtp', peer, 'alice@example.org')]));
    const why = await explain(run, env, dovecot);
    expect(run.code, why).toBe(0);
    expect(peer.deliveries, why).toHaveLength(10);
    for (const delivery of peer.deliveries) {
      expect(delivery.from).toBe(SENDER);
      expect(delivery.to).toEqual(['alice@example.org']);
      expect(delivery.clientName).toBe('mailnode.test');
    }
    expect(copyProblems(peer.deliveries.map((d, i) => ({ name: `delivery ${i}`, bytes: d.data })), messagesOf('smtp'), { received: 'required', recip: 'alice@example.org' }), why).toEqual([]);
    expect(await remoteFiles(dovecot, 'smtp'), why).toHaveLength(0);
    expect(await maildirFiles(localMaildir(env, 'alice')), why).toEqual([]);
    expect(await spoolLeft(env, 'smtp'), why).toEqual([]);
  });

  it('recip `team`, aliased to two external addresses: one transaction per message, RCPT TO both', async () => {
    const peer = await startSmtpPeer();
    peers.push(peer);
    const env = await retrieverEnv({ domains: 'mailnode.test\n', aliases: 'team:alice@example.org:bob@example.org\n' });
    const run = await runFetch(env, fetchConfig(env, [smtpClient('alias-ext', 'smtp-alias-ext', peer, 'team')]));
    const why = await explain(run, env, dovecot);
    expect(run.code, why).toBe(0);
    expect(peer.deliveries, why).toHaveLength(4);
    for (const delivery of peer.deliveries) expect([...delivery.to].sort()).toEqual(['alice@example.org', 'bob@example.org']);
    expect(copyProblems(peer.deliveries.map((d, i) => ({ name: `delivery ${i}`, bytes: d.data })), messagesOf('smtp-alias-ext'), { received: 'required' }), why).toEqual([]);
  });

  it('recip `team` with aliases `team:alice:bob` (local users): RCPT TO both, as valid RFC 5321 addresses', async () => {
    const peer = await startSmtpPeer();
    peers.push(peer);
    const env = await retrieverEnv({ aliases: 'team:alice:bob\n' });
    const run = await runFetch(env, fetchConfig(env, [smtpClient('alias-local', 'smtp-alias-local', peer, 'team')]));
    const why = await explain(run, env, dovecot);
    expect(run.code, why).toBe(0);
    expect(peer.deliveries, why).toHaveLength(4);
    for (const delivery of peer.deliveries) {
      // smtp-server only takes local-part@domain (RFC 5321 4.1.2): bare `alice` is refused with 501.
      expect(delivery.to.map((address) => address.split('@')[0]).sort()).toEqual(['alice', 'bob']);
    }
    expect(await remoteFiles(dovecot, 'smtp-alias-local'), why).toHaveLength(0);
  });

  it('LMTP (smtp.lmtp Y): LHLO, every message delivered with identical content', async () => {
    const peer = await startSmtpPeer({ lmtp: true });
    peers.push(peer);
    const env = await retrieverEnv({ domains: 'mailnode.test\n' });
    const run = await runFetch(env, fetchConfig(env, [smtpClient('lmtp', 'lmtp', peer, 'alice@example.org', true)]));
    const why = await explain(run, env, dovecot);
    expect(run.code, why).toBe(0);
    expect(peer.deliveries, why).toHaveLength(6);
    for (const delivery of peer.deliveries) {
      expect(delivery.transmissionType).toMatch(/^LMTP/);
      expect(delivery.from).toBe(SENDER);
      expect(delivery.to).toEqual(['alice@example.org']);
    }
    expect(copyProblems(peer.deliveries.map((d, i) => ({ name: `delivery ${i}`, bytes: d.data })), messagesOf('lmtp'), { received: 'required' }), why).toEqual([]);
    expect(await remoteFiles(dovecot, 'lmtp'), why).toHaveLength(0);
  });

  it.each([
    [451, 'smtp-451'],
    [550, 'smtp-550'],
  ])('DATA answered %i for one message: it stays on Dovecot, exit 1; after recovery the next run delivers it exactly once', async (code, user) => {
    const peer = await startSmtpPeer();
    peers.push(peer);
    const env = await retrieverEnv({ domains: 'mailnode.test\n' });
    const messages = messagesOf(user);
    const refused = messages[2]!.messageId;
    peer.refuse.set(refused, code);
    const config = fetchConfig(env, [smtpClient('inject', user, peer, 'alice@example.org')]);

    const first = await runFetch(env, config);
    const why1 = await explain(first, env, dovecot);
    expect(first.code, why1).toBe(1);
    expect(first.stdout, why1).toMatch(new RegExp(`^inject: FAILED at deliver: .*${code}`, 'm'));
    expect(peer.attempts.get(refused), why1).toBe(1);
    const accepted = peer.deliveries.map((delivery) => delivery.messageId!);
    const remaining = await remoteIds(user);
    expect(remaining, why1).toContain(refused);
    expect(accepted, why1).not.toContain(refused);
    // Nothing is both delivered and still on the server, and nothing is lost.
    expect(accepted.filter((id) => remaining.includes(id)), why1).toEqual([]);
    expect([...accepted, ...remaining].sort(), why1).toEqual(idsOf(messages));
    expect(await spoolLeft(env, 'inject'), why1).toEqual([]);

    peer.refuse.clear();
    const second = await runFetch(env, config);
    const why2 = await explain(second, env, dovecot);
    expect(second.code, why2).toBe(0);
    expect(copyProblems(peer.deliveries.map((d, i) => ({ name: `delivery ${i}`, bytes: d.data })), messages, { received: 'required' }), why2).toEqual([]);
    expect(peer.attempts.get(refused), why2).toBe(2);
    expect(await remoteFiles(dovecot, user), why2).toHaveLength(0);
    expect(await spoolLeft(env, 'inject'), why2).toEqual([]);
  });
});
