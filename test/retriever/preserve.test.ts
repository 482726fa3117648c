/**
 * preserve (keep mail on the server) and the UIDL ledger (`<uidl_dir>/<id>.uidl`), against a
 * real Dovecot through the real CLI: preserve N empties the remote mailbox; preserve Y leaves it
 * as it was, a second run fetches nothing, new mail is fetched alone; UIDLs the server no longer
 * lists are forgotten by the next run. A mixed set with a message over 1 MiB (streamed, not
 * buffered) arrives intact.
 */
import { unlink } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { uidls } from '../harness/curl-client.ts';
import { dovecotUnavailableReason, type DovecotInstance } from '../harness/dovecot.ts';
import { killAllTools } from '../harness/external-tool.ts';
import { fixed4k, manifest, mixed, verifyMaildir, type GeneratedMessage } from '../harness/mail-generator.ts';
import { stopAllMailnodes } from '../harness/mailnode-process.ts';
import {
  copyProblems,
  dovecotClient,
  explain,
  fetchConfig,
  localMaildir,
  maildirFiles,
  messageIdOf,
  readLedger,
  remoteFiles,
  remotePassword,
  retrieverEnv,
  runFetch,
  startFilledDovecot,
} from './helpers.ts';

const unavailable = dovecotUnavailableReason();

const REMOTE: Record<string, () => GeneratedMessage[]> = {
  'keep-none': () => fixed4k(15, 400),
  keep: () => fixed4k(10, 401),
  big: () => mixed(20, 402),
};

let dovecot: DovecotInstance;
let mail = new Map<string, GeneratedMessage[]>();

beforeAll(async () => {
  if (unavailable) return;
  ({ dovecot, mail } = await startFilledDovecot(REMOTE));
});

afterEach(() => killAllTools());
afterAll(async () => {
  killAllTools();
  await dovecot?.stop();
  await stopAllMailnodes();
});

const idsOf = (messages: readonly { messageId: string }[]) => messages.map((message) => message.messageId).sort();
const remoteUidls = (user: string) => uidls(`pop3://127.0.0.1:${dovecot.plainPort}`, `${user}:${remotePassword(user)}`);

describe.skipIf(unavailable)('preserve and the UIDL ledger', () => {
  it('preserve N: the Dovecot mailbox is empty afterwards; the next run forgets the UIDLs', async () => {
    const env = await retrieverEnv();
    const config = fetchConfig(env, [dovecotClient(dovecot, 'none', 'keep-none', { preserve: 'N' })]);
    const run = await runFetch(env, config);
    const why = await explain(run, env, dovecot);
    expect(run.code, why).toBe(0);
    expect(run.stdout, why).toMatch(/^none: ok, 15 messages, [\d.]+ MB, 15 deleted from the server/m);
    expect(await remoteFiles(dovecot, 'keep-none'), why).toEqual([]);
    expect(copyProblems(await maildirFiles(localMaildir(env, 'alice')), mail.get('keep-none')!, { received: 'required' }), why).toEqual([]);
    expect((await readLedger(env, 'none')).delivered, why).toHaveLength(15);

    const again = await runFetch(env, config);
    const why2 = await explain(again, env, dovecot);
    expect(again.code, why2).toBe(0);
    expect(again.stdout, why2).toMatch(/^none: ok, 0 messages/m);
    expect(await readLedger(env, 'none'), why2).toEqual({ delivered: [], pending: [], lines: 0 });
    expect(await maildirFiles(localMaildir(env, 'alice'))).toHaveLength(15);
  });

  it('preserve Y: mailbox unchanged, nothing new on the second run, exactly the 3 added on the third; removed UIDLs are forgotten', async () => {
    const env = await retrieverEnv();
    const config = fetchConfig(env, [dovecotClient(dovecot, 'keep', 'keep', { preserve: 'Y' })]);
    const first = mail.get('keep')!;
    const local = () => maildirFiles(localMaildir(env, 'alice'));

    const run1 = await runFetch(env, config);
    const why1 = await explain(run1, env, dovecot);
    expect(run1.code, why1).toBe(0);
    expect(run1.stdout, why1).toMatch(/^keep: ok, 10 messages, [\d.]+ MB, 0 deleted from the server/m);
    const remote1 = await verifyMaildir(dovecot.maildirOf('keep'), manifest(first));
    expect(remote1.ok, JSON.stringify(remote1)).toBe(true);
    expect(copyProblems(await local(), first, { received: 'required' }), why1).toEqual([]);
    const listed1 = await remoteUidls('keep');
    expect(listed1).toHaveLength(10);
    expect((await readLedger(env, 'keep')).delivered.sort(), why1).toEqual([...listed1].sort());

    const run2 = await runFetch(env, config);
    const why2 = await explain(run2, env, dovecot);
    expect(run2.code, why2).toBe(0);
    expect(run2.stdout, why2).toMatch(/^keep: ok, 0 messages/m);
    expect(await local(), why2).toHaveLength(10);

    const added = fixed4k(3, 499);
    await dovecot.fill('keep', added);
    const run3 = await runFetch(env, config);
    const why3 = await explain(run3, env, dovecot);
    expect(run3.code, why3).toBe(0);
    expect(run3.stdout, why3).toMatch(/^keep: ok, 3 messages/m);
    const all = [...first, ...added];
    expect(copyProblems(await local(), all, { received: 'required' }), why3).toEqual([]);
    const verified = await verifyMaildir(localMaildir(env, 'alice'), manifest(all));
    expect(verified.ok, JSON.stringify(verified)).toBe(true);
    expect(await remoteFiles(dovecot, 'keep'), why3).toHaveLength(13);
    const ledger3 = (await readLedger(env, 'keep')).delivered.sort();
    expect(ledger3, why3).toEqual((await remoteUidls('keep')).sort());

    // Another client (or the user) deletes 5 messages on the server.
    const gone = new Set(idsOf(first).slice(0, 5));
    for (const file of await remoteFiles(dovecot, 'keep')) if (gone.has(messageIdOf(file.bytes) ?? '')) await unlink(file.path);
    expect(await remoteFiles(dovecot, 'keep')).toHaveLength(8);
    const listed4 = (await remoteUidls('keep')).sort();
    expect(listed4).toHaveLength(8);

    const run4 = await runFetch(env, config);
    const why4 = await explain(run4, env, dovecot);
    expect(run4.code, why4).toBe(0);
    expect(run4.stdout, why4).toMatch(/^keep: ok, 0 messages/m);
    const ledger4 = await readLedger(env, 'keep');
    expect(ledger4.delivered.sort(), why4).toEqual(listed4);
    // Compacted: one line per remembered UIDL, nothing pending.
    expect(ledger4.lines, why4).toBe(8);
    expect(ledger4.pending, why4).toEqual([]);
    expect(ledger3.filter((uidl) => !listed4.includes(uidl)), why4).toHaveLength(5);
    expect(await local(), why4).toHaveLength(13);
  });

  it('a mixed set with a message over 1 MiB arrives intact (Maildir)', async () => {
    const messages = mail.get('big')!;
    expect(Math.max(...messages.map((message) => message.size))).toBeGreaterThanOrEqual(1024 * 1024);
    const env = await retrieverEnv();
    const run = await runFetch(env, fetchConfig(env, [dovecotClient(dovecot, 'big', 'big')]));
    const why = await explain(run, env, dovecot);
    expect(run.code, why).toBe(0);
    expect(run.stdout, why).toMatch(/^big: ok, 20 messages/m);
    const verified = await verifyMaildir(localMaildir(env, 'alice'), manifest(messages));
    expect(verified.ok, JSON.stringify(verified)).toBe(true);
    expect(copyProblems(await maildirFiles(localMaildir(env, 'alice')), messages, { received: 'required' }), why).toEqual([]);
    expect(await remoteFiles(dovecot, 'big'), why).toEqual([]);
  }, 60_000);
});
