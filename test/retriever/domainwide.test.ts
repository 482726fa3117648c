/**
 * Domain-wide (multidrop) retriever clients against a real Dovecot: each message in the remote
 * mailbox is routed by its envelope recipients (a configured header, or To/Cc/Bcc with `*`) to
 * the local users of a files Directory (users, aliases `team:alice:bob`, domains `example.org`).
 *
 * One `mailnode fetch --once` run (beforeAll) polls several domain-wide clients at once, each
 * with its own remote mailbox; the tests then look at what each local Maildir holds, by
 * Message-ID: who got which message (exactly once), and that each copy is the original minus the
 * envelope header and Return-Path, with `Return-Path: <sender>` and mailnode's Received on top.
 * Duds and max_duds get runs of their own (fetch --once, and a long-running node for status).
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dovecotUnavailableReason, startDovecot, type DovecotInstance } from '../harness/dovecot.ts';
import { killAllTools, type ToolResult } from '../harness/external-tool.ts';
import type { GeneratedMessage } from '../harness/mail-generator.ts';
import { makeTempDir, startMailnode, stopAllMailnodes, waitFor } from '../harness/mailnode-process.ts';
import {
  delay,
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
  sessionsOf,
  type MailFile,
  type RetrieverEnv,
} from './helpers.ts';

const unavailable = dovecotUnavailableReason();

const USERS = ['alice', 'bob', 'carol', 'caretaker', 'postmaster'].map((name) => `${name}:pw-${name}`).join('\n') + '\n';
const ALIASES = 'team:alice:bob\n';
const DOMAINS = 'example.org\n';
const SENDER = 'sender@partner.example';

// ---- messages -------------------------------------------------------------------------------

interface Scenario {
  /** The message as it sits in the remote Maildir (LF line ends). */
  readonly message: GeneratedMessage;
  /** What every routed copy must be below mailnode's Return-Path and Received lines. */
  readonly expected: Buffer;
}

let fileSeq = 0;

/** A GeneratedMessage from explicit header lines and a body; the Maildir name carries S= and W=. */
function rawMessage(messageId: string, headerLines: readonly string[], body: string): GeneratedMessage {
  const bytes = Buffer.from(`${headerLines.join('\n')}\n\n${body}`, 'latin1');
  const lfCount = bytes.toString('latin1').split('\n').length - 1;
  const seq = ++fileSeq;
  const sha = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');
  return {
    name: `${1_700_000_000 + seq}.M${seq}P9${seq}Q1.domainwide-gen,S=${bytes.length},W=${bytes.length + lfCount}`,
    messageId,
    bytes,
    sha256: sha(bytes),
    bodySha256: sha(body),
    headerSha256: sha(`${headerLines.join('\n')}\n`),
    firstHeaderLine: headerLines[0]!,
    size: bytes.length,
    wireSize: bytes.length + lfCount,
  };
}

/** The header lines without the named fields (continuation lines included). */
function withoutFields(lines: readonly string[], names: readonly string[]): string[] {
  const doomed = names.map((name) => name.toLowerCase());
  const out: string[] = [];
  let dropping = false;
  for (const line of lines) {
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (!dropping) out.push(line);
      continue;
    }
    dropping = doomed.includes(line.slice(0, line.indexOf(':')).trim().toLowerCase());
    if (!dropping) out.push(line);
  }
  return out;
}

/**
 * A message for scenario `key`: `envelope` lines (the envelope header, folded or repeated) go
 * after a provider Received line, Return-Path on top unless `returnPathAt` says otherwise.
 */
function scenario(
  key: string,
  envelope: readonly string[],
  options: { header?: string; to?: string; extra?: readonly string[]; strip?: readonly string[]; returnPathAt?: number; body?: string } = {},
): Scenario {
  const messageId = `<${key}.${process.pid}@partner.example>`;
  const lines = [
    'Received: from mx.partner.example (mx.partner.example [192.0.2.7])',
    `\tby pop.isp.example (Postfix) with ESMTP id ${key.toUpperCase().replace(/[^A-Z0-9]/g, '')}`,
    '\tfor <domain@isp.example>; Mon, 2 Mar 2026 10:00:00 +0000',
    ...envelope,
    'From: Sender <sender@partner.example>',
    `To: ${options.to ?? 'Team <team@example.org>'}`,
    ...(options.extra ?? []),
    `Subject: domain-wide scenario ${key}`,
    'Date: Mon, 2 Mar 2026 10:00:00 +0000',
    `Message-ID: ${messageId}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    'Content-Transfer-Encoding: 7bit',
  ];
  lines.splice(options.returnPathAt ?? 0, 0, `Return-Path: <${SENDER}>`);
  const body = options.body ?? `Hello,\n\nthis is scenario ${key}.\n.leading dot line\n-- \nsender\n`;
  const kept = withoutFields(lines, ['Return-Path', ...(options.strip ?? [options.header ?? 'X-Original-To'])]);
  return { message: rawMessage(messageId, lines, body), expected: Buffer.from(`${kept.join('\n')}\n\n${body}`, 'latin1') };
}

/** The same file content again under another Maildir name (a duplicate in the remote mailbox). */
function duplicateOf(message: GeneratedMessage): GeneratedMessage {
  const seq = ++fileSeq;
  return { ...message, name: message.name.replace(/^\d+\.M\d+P\d+Q\d+/, `${1_700_000_000 + seq}.M${seq}P9${seq}Q1`) };
}

// ---- copies ---------------------------------------------------------------------------------

/** mailnode's Received for a domain-wide client: no `for` clause (recipients vary per message). */
const MAILNODE_RECEIVED = /^Received: from (\S+)\n\tby (\S+) \(mailnode\) with POP3(?: id (\S+))?; ([^\n]+)\n/;
const RETURN_PATH = /^Return-Path: <([^>\n]*)>\n/;

interface Delivered {
  readonly file: MailFile;
  readonly returnPath?: string;
  readonly received: boolean;
  /** Below Return-Path and Received, LF line ends. */
  readonly rest: Buffer;
}

function parseCopy(file: MailFile): Delivered {
  let text = lf(file.bytes).toString('latin1');
  const returnPath = RETURN_PATH.exec(text);
  if (returnPath) text = text.slice(returnPath[0].length);
  const received = MAILNODE_RECEIVED.exec(text);
  if (received) text = text.slice(received[0].length);
  return { file, returnPath: returnPath?.[1], received: received !== null, rest: Buffer.from(text, 'latin1') };
}

const LOCAL_USERS = ['alice', 'bob', 'carol', 'caretaker', 'postmaster'];

/** Every local user's copies, by Message-ID. */
async function deliveries(env: RetrieverEnv): Promise<Map<string, Map<string, Delivered[]>>> {
  const out = new Map<string, Map<string, Delivered[]>>();
  for (const user of LOCAL_USERS) {
    const byId = new Map<string, Delivered[]>();
    for (const file of await maildirFiles(localMaildir(env, user))) {
      const copy = parseCopy(file);
      const id = messageIdOf(copy.rest) ?? '(none)';
      byId.set(id, [...(byId.get(id) ?? []), copy]);
    }
    out.set(user, byId);
  }
  return out;
}

// ---- setup ----------------------------------------------------------------------------------

const S = {
  single: scenario('single', ['X-Original-To: alice@example.org']),
  multi: scenario('multi', ['X-Original-To: alice@example.org, carol@example.org']),
  repeated: scenario('repeated', ['X-Original-To: bob@example.org', 'X-Original-To: <carol@example.org>']),
  folded: scenario('folded', ['X-Original-To: alice@example.org,', '\tbob@example.org,', ' carol@example.org']),
  alias: scenario('alias', ['X-Original-To: team@example.org']),
  unknown: scenario('unknown', ['X-Original-To: alice@example.org', 'X-Original-To: nobody@example.org']),
  rewrite: scenario('rewrite', ['X-Original-To: alice@isp.example']),
  dedup: scenario('dedup', ['X-Original-To: alice@example.org, bob@example.org']),
  // Return-Path in the middle of the header (below Delivered-To), and other envelope-like
  // headers that are not the configured one: they must stay byte for byte.
  moved: scenario('moved', ['Delivered-To: domain@isp.example', 'X-Original-To: carol@example.org', 'X-Real-To: bob@example.org'], {
    returnPathAt: 4,
    extra: ['X-Mailer: test 1.0', 'Subject-Extra: folded', '  continuation kept'],
  }),
  // A different configured header (Envelope-To), folded over three lines with several addresses.
  envelopeTo: scenario('envelope-to', ['Envelope-To: bob@example.org,', '  carol@example.org', 'X-Original-To: alice@example.org'], { header: 'Envelope-To' }),
  // '*': every To/Cc/Bcc address that routes to a user or alias; the stranger in To is ignored,
  // Bcc-only carol gets it (and Bcc is removed from the copy).
  star: scenario('star', [], { to: 'Partner <partner@elsewhere.example>', extra: ['Bcc: carol@example.org'], strip: ['Bcc'] }),
  postmaster: scenario('postmaster', ['X-Original-To: nobody@example.org']),
  dedupDefault: scenario('dedup-default', ['X-Original-To: alice@example.org, nobody@example.org']),
};

const REMOTE: Record<string, GeneratedMessage[]> = {
  'dw-main': [
    S.single.message,
    S.multi.message,
    S.repeated.message,
    S.folded.message,
    S.alias.message,
    S.unknown.message,
    S.rewrite.message,
    S.dedup.message,
    duplicateOf(S.dedup.message),
    duplicateOf(S.dedup.message),
    S.moved.message,
  ],
  'dw-envto': [S.envelopeTo.message],
  'dw-star': [S.star.message],
  'dw-pm': [S.postmaster.message],
  'dw-dedupdflt': [S.dedupDefault.message, duplicateOf(S.dedupDefault.message), duplicateOf(S.dedupDefault.message)],
  'dw-dud': [],
  'dw-maxduds': [],
  'dw-maxduds-sc1': [],
  'dw-maxduds-b1': [],
  'dw-node': [],
};

const duds = (key: string, count: number) =>
  Array.from({ length: count }, (_, i) => scenario(`${key}-${i + 1}`, [`X-Original-To: stranger${i + 1}@example.org`]).message);
const DUD = duds('dud', 1);
const MAXDUDS = duds('maxduds', 3);
const MAXDUDS_SC1 = duds('maxduds-sc1', 3);
const MAXDUDS_B1 = duds('maxduds-b1', 3);
const NODE_DUDS = duds('node-dud', 3);

let dovecot: DovecotInstance;
let env: RetrieverEnv;
let run: ToolResult;
let why = '';
let got = new Map<string, Map<string, Delivered[]>>();

const domainwide = (over: Record<string, unknown> = {}) => ({
  header: 'X-Original-To',
  localdomains: ['example.org'],
  domain: 'example.org',
  dflt_address: 'caretaker',
  ...over,
});

function client(id: string, settings: Record<string, unknown>): Record<string, unknown> {
  const base = dovecotClient(dovecot, id, id, { domainwide: settings });
  delete base.recip;
  return base;
}

beforeAll(async () => {
  if (unavailable) return;
  dovecot = await startDovecot({ users: Object.keys(REMOTE).map((name) => ({ name, password: remotePassword(name) })) });
  for (const [user, messages] of Object.entries(REMOTE)) await dovecot.fill(user, messages);
  await dovecot.fill('dw-dud', DUD);
  await dovecot.fill('dw-maxduds', MAXDUDS);
  await dovecot.fill('dw-maxduds-sc1', MAXDUDS_SC1);
  await dovecot.fill('dw-maxduds-b1', MAXDUDS_B1);
  await dovecot.fill('dw-node', NODE_DUDS);
  env = await retrieverEnv({ users: USERS, aliases: ALIASES, domains: DOMAINS });
  const config = fetchConfig(env, [
    client('dw-main', domainwide()),
    client('dw-envto', domainwide({ header: 'Envelope-To' })),
    client('dw-star', domainwide({ header: '*', domain: undefined, dflt_address: undefined })),
    client('dw-pm', domainwide({ dflt_address: undefined })),
    client('dw-dedupdflt', domainwide()),
  ]);
  run = await runFetch(env, JSON.parse(JSON.stringify(config)) as Record<string, unknown>);
  why = await explain(run, env, dovecot);
  got = await deliveries(env);
}, 60_000);

afterAll(async () => {
  killAllTools();
  await stopAllMailnodes();
  await dovecot?.stop();
});

/** Which users hold `scenario`'s message, with how many copies each. */
function holders(s: Scenario): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [user, byId] of got) {
    const copies = byId.get(s.message.messageId);
    if (copies?.length) out[user] = copies.length;
  }
  return out;
}

function copiesOf(s: Scenario, user: string): Delivered[] {
  return got.get(user)?.get(s.message.messageId) ?? [];
}

/** Each copy: Return-Path of the sender on top, then mailnode's Received, then exactly `expected`. */
function expectExactCopies(s: Scenario, users: readonly string[]): void {
  for (const user of users) {
    for (const copy of copiesOf(s, user)) {
      const where = `${user}/${copy.file.name}\n${lf(copy.file.bytes).toString('latin1').slice(0, 1500)}\n${why}`;
      expect(copy.returnPath, where).toBe(SENDER);
      expect(copy.received, where).toBe(true);
      expect(copy.rest.toString('latin1'), where).toBe(s.expected.toString('latin1'));
    }
  }
}

describe.skipIf(unavailable)('domain-wide delivery (fetch --once, several clients in one run)', () => {
  it('the run succeeds and empties every remote mailbox', async () => {
    expect(run.code, why).toBe(0);
    for (const id of ['dw-main', 'dw-envto', 'dw-star', 'dw-pm', 'dw-dedupdflt']) {
      expect(run.stdout, why).toMatch(new RegExp(`^${id}: ok, `, 'm'));
      expect(await remoteFiles(dovecot, id), `${id}\n${why}`).toEqual([]);
    }
    expect(run.stdout, why).toMatch(/^dw-main: ok, 11 messages/m);
  });

  it('one recipient: only that user gets it, byte for byte below Return-Path and Received', () => {
    expect(holders(S.single), why).toEqual({ alice: 1 });
    expectExactCopies(S.single, ['alice']);
  });

  it('several addresses in one header: each user gets one copy', () => {
    expect(holders(S.multi), why).toEqual({ alice: 1, carol: 1 });
    expectExactCopies(S.multi, ['alice', 'carol']);
  });

  it('the envelope header repeated: every occurrence counts, every occurrence is removed', () => {
    expect(holders(S.repeated), why).toEqual({ bob: 1, carol: 1 });
    expectExactCopies(S.repeated, ['bob', 'carol']);
  });

  it('a folded multi-address header: all addresses read, the whole folded field removed', () => {
    expect(holders(S.folded), why).toEqual({ alice: 1, bob: 1, carol: 1 });
    expectExactCopies(S.folded, ['alice', 'bob', 'carol']);
  });

  it('another configured header (Envelope-To, folded): X-Original-To is then an ordinary header and kept', () => {
    expect(holders(S.envelopeTo), why).toEqual({ bob: 1, carol: 1 });
    expectExactCopies(S.envelopeTo, ['bob', 'carol']);
    expect(S.envelopeTo.expected.toString('latin1')).toContain('X-Original-To: alice@example.org\n');
  });

  it('an alias recipient expands to its two users', () => {
    expect(holders(S.alias), why).toEqual({ alice: 1, bob: 1 });
    expectExactCopies(S.alias, ['alice', 'bob']);
  });

  it('an unknown recipient plus a known one: the known user gets it, the default address ONE copy with a note naming both', () => {
    expect(holders(S.unknown), why).toEqual({ alice: 1, caretaker: 1 });
    expectExactCopies(S.unknown, ['alice']);
    const noted = copiesOf(S.unknown, 'caretaker')[0]!;
    const text = noted.rest.toString('latin1');
    const where = `${text}\n${why}`;
    expect(noted.returnPath, where).toBe(SENDER);
    expect(noted.received, where).toBe(true);
    // Header as for everybody else; the note is a paragraph at the top of the (text/plain) body.
    const [expectedHeader, expectedBody] = splitAtBody(S.unknown.expected.toString('latin1'));
    const [header, body] = splitAtBody(text);
    expect(header, where).toBe(expectedHeader);
    expect(body.endsWith(`\n\n${expectedBody}`), where).toBe(true);
    const note = body.slice(0, body.length - expectedBody.length);
    expect(note, where).toMatch(/^\[mailnode\] /);
    expect(note, where).toMatch(/Received it:\n {2}alice@example\.org\n/);
    expect(note, where).toMatch(/Did not receive it:\n {2}nobody@example\.org \(no such local user or alias\)/);
  });

  it('no default address: an unresolved message goes to postmaster, with the note', () => {
    expect(holders(S.postmaster), why).toEqual({ postmaster: 1 });
    const copy = copiesOf(S.postmaster, 'postmaster')[0]!;
    expect(copy.rest.toString('latin1'), why).toContain('nobody@example.org (no such local user or alias)');
  });

  it('domain rewrite (domain: example.org): alice@isp.example is delivered to alice', () => {
    expect(holders(S.rewrite), why).toEqual({ alice: 1 });
    expectExactCopies(S.rewrite, ['alice']);
  });

  it('the same message (same Message-ID) three times in the mailbox: exactly one copy per user', () => {
    expect(holders(S.dedup), why).toEqual({ alice: 1, bob: 1 });
    expectExactCopies(S.dedup, ['alice', 'bob']);
  });

  it('the same message three times with an unknown recipient: the default address too gets one copy', () => {
    expect(holders(S.dedupDefault), why).toEqual({ alice: 1, caretaker: 1 });
  });

  it('Return-Path moves to the top as the envelope sender; other envelope-like headers (Delivered-To, X-Real-To) stay', () => {
    expect(holders(S.moved), why).toEqual({ carol: 1 });
    expectExactCopies(S.moved, ['carol']);
    const top = lf(copiesOf(S.moved, 'carol')[0]!.file.bytes).toString('latin1');
    expect(top.startsWith(`Return-Path: <${SENDER}>\nReceived: from 127.0.0.1\n`), top).toBe(true);
    expect(top.match(/^Return-Path:/gim), top).toHaveLength(1);
    expect(top, top).not.toMatch(/^X-Original-To:/im);
    expect(top, top).toMatch(/^Delivered-To: domain@isp\.example\nX-Real-To: bob@example\.org\n/m);
  });

  it("'*' mode: a Bcc-only local recipient gets it, the stranger in To is ignored (no default copy), Bcc removed", () => {
    expect(holders(S.star), why).toEqual({ carol: 1 });
    expectExactCopies(S.star, ['carol']);
    const text = copiesOf(S.star, 'carol')[0]!.rest.toString('latin1');
    expect(text, text).toContain('To: Partner <partner@elsewhere.example>\n');
    expect(text, text).not.toMatch(/^Bcc:/im);
  });

  it('no user got anything that was not routed to them', () => {
    const ids = (list: readonly Scenario[]) => list.map((s) => s.message.messageId);
    const expected: Record<string, string[]> = {
      alice: ids([S.single, S.multi, S.folded, S.alias, S.unknown, S.rewrite, S.dedup, S.dedupDefault]),
      bob: ids([S.repeated, S.folded, S.envelopeTo, S.alias, S.dedup]),
      carol: ids([S.multi, S.repeated, S.folded, S.envelopeTo, S.moved, S.star]),
      caretaker: ids([S.unknown, S.dedupDefault]),
      postmaster: ids([S.postmaster]),
    };
    for (const user of LOCAL_USERS) expect([...got.get(user)!.keys()].sort(), `${user}\n${why}`).toEqual([...expected[user]!].sort());
  });
});

function splitAtBody(text: string): [string, string] {
  const at = text.indexOf('\n\n');
  return [text.slice(0, at + 1), text.slice(at + 2)];
}

describe.skipIf(unavailable)('domain-wide duds', () => {
  it('a dud (no recipient resolves, the default address names nobody) is stored in <duds>/<client>/Maildir and deleted from the remote', async () => {
    const dudEnv = await retrieverEnv({ users: USERS, aliases: ALIASES, domains: DOMAINS });
    const dudsRoot = join(dudEnv.dir, 'duds');
    const result = await runFetch(dudEnv, fetchConfig(dudEnv, [client('dw-dud', domainwide({ dflt_address: 'ghost', duds: dudsRoot }))]));
    const explained = await explain(result, dudEnv, dovecot);
    expect(result.code, explained).toBe(0);
    expect(result.stdout, explained).toMatch(/^dw-dud: ok, 1 messages/m);
    const stored = await maildirFiles(join(dudsRoot, 'dw-dud', 'Maildir'));
    expect(stored, explained).toHaveLength(1);
    // The dud is kept whole: the original bytes (envelope header and Return-Path included) below mailnode's Received.
    const { rest, received } = parseCopy(stored[0]!);
    expect(received, explained).toBe(true);
    expect(rest.toString('latin1'), explained).toBe(DUD[0]!.bytes.toString('latin1'));
    expect(await remoteFiles(dovecot, 'dw-dud'), explained).toEqual([]);
    for (const user of LOCAL_USERS) expect(await maildirFiles(localMaildir(dudEnv, user)), `${user}\n${explained}`).toEqual([]);
  });

  /**
   * max_duds 2 and three duds in the remote mailbox, with the given retriever limits: the run
   * must fail, the first two duds be stored (and deleted from the server), the third stay there.
   */
  async function expectDeactivatedAfterTwo(remoteUser: string, messages: readonly GeneratedMessage[], limits: Record<string, unknown>): Promise<void> {
    const dudEnv = await retrieverEnv({ users: USERS, aliases: ALIASES, domains: DOMAINS });
    const dudsRoot = join(dudEnv.dir, 'duds');
    const config = fetchConfig(dudEnv, [client(remoteUser, domainwide({ dflt_address: 'ghost', duds: dudsRoot, max_duds: 2 }))], { limits });
    const result = await runFetch(dudEnv, config);
    const stored = await maildirFiles(join(dudsRoot, remoteUser, 'Maildir'));
    const remote = await remoteFiles(dovecot, remoteUser);
    const explained = `${await explain(result, dudEnv, dovecot)}\n--- duds Maildir: ${stored.length}, remote: ${remote.length}`;
    expect(result.code, explained).toBe(1);
    expect(result.stdout, explained).toMatch(new RegExp(`^${remoteUser}: FAILED at deliver: .*duds in a row`, 'm'));
    expect(await readFileText(dudEnv.logFile), explained).toMatch(new RegExp(`DEACTIVATING retriever client ${remoteUser}`));
    expect(stored, explained).toHaveLength(2);
    expect(remote, explained).toHaveLength(1);
    const all = [...stored.map((f) => messageIdOf(parseCopy(f).rest)), ...remote.map((f) => messageIdOf(f.bytes))].sort();
    expect(all, explained).toEqual(messages.map((m) => m.messageId).sort());
  }

  it('max_duds 2 with 3 duds in a row (default limits): the run fails, two duds stored, the third stays on the remote', async () => {
    await expectDeactivatedAfterTwo('dw-maxduds', MAXDUDS, {});
  });

  it('max_duds 2 with 3 duds in a row (stage_concurrency 1, one batch): the two duds taken are kept', async () => {
    await expectDeactivatedAfterTwo('dw-maxduds-sc1', MAXDUDS_SC1, { stage_concurrency: 1 });
  });

  it('max_duds 2 with 3 duds in a row (batch_messages 1): the run fails, two duds stored, the third stays on the remote', async () => {
    await expectDeactivatedAfterTwo('dw-maxduds-b1', MAXDUDS_B1, { batch_messages: 1 });
  });

  // batch_messages 1: with the default limits the trip is not enforced within a run (see the skipped test above).
  it('a running node shows the client deactivated in `mailnode status --json` after max_duds duds, and polls it no more', async () => {
    const logs = await makeTempDir('mailnode-domainwide-');
    const transcript = join(logs, 'retriever.transcript');
    const node = await startMailnode({
      users: USERS,
      config: {
        pop3download: {
          delay_start: '0s',
          timeout: '10s',
          transcript,
          limits: { batch_messages: 1 },
          clients: [{ ...client('dw-node', domainwide({ dflt_address: 'ghost', max_duds: 2 })), freq: '1s' }],
        },
      },
    });
    type Status = { id: string; state: string; duds: number; lastError?: string; nextRunAt?: string };
    const status = async (): Promise<Status | undefined> => {
      const answer = await runMailnode(['status', '--json', '--config', node.configFile!], { timeoutMs: 15_000 });
      if (answer.code !== 0) return undefined;
      return (JSON.parse(answer.stdout) as { clients: Status[] }).clients.find((c) => c.id === 'dw-node');
    };
    const explainNode = async () => `stderr:\n${node.stderr().slice(-3000)}\ntranscript:\n${(await readFileText(transcript)).split('\n').slice(-30).join('\n')}`;
    let last: Status | undefined;
    await waitFor('dw-node to be deactivated', async () => (last = await status())?.state === 'deactivated', 30_000, 300).catch(async (error: Error) => {
      throw new Error(`${error.message}\nlast status: ${JSON.stringify(last)}\n${await explainNode()}`);
    });
    const sessionsBefore = sessionsOf(await readTranscript(transcript), 'dw-node').length;
    await delay(2500); // freq 1s: a live schedule would have polled again by now
    const final = (await status())!;
    const why = `${JSON.stringify(final)}\n${await explainNode()}`;
    expect(final.state, why).toBe('deactivated');
    expect(final.duds, why).toBe(2);
    expect(final.lastError ?? '', why).toMatch(/duds in a row/);
    expect(final.nextRunAt, why).toBeUndefined();
    expect(node.stderr(), why).toMatch(/DEACTIVATING retriever client dw-node/);
    expect(sessionsOf(await readTranscript(transcript), 'dw-node').length, why).toBe(sessionsBefore);
    expect(await maildirFiles(join(node.stateDir, 'duds', 'dw-node', 'Maildir')), why).toHaveLength(2);
    expect(await remoteFiles(dovecot, 'dw-node'), why).toHaveLength(1);
  });
});
