/**
 * Shared pieces of the retriever integration tests (test/retriever/*.test.ts):
 *
 *   - retrieverEnv(): a private temp dir per test with a state dir, a users file (0600), optional
 *     aliases/domains files, and paths for the transcript, audit log, UIDL ledger and log file;
 *   - fetchConfig() / dovecotClient(): a config file for the real node, pointing at Dovecot;
 *   - runFetch(): `node apps/mailnode fetch --once --config FILE [ids]`, bounded in time;
 *   - readers for what a run left behind: local Maildir, Dovecot's Maildir, downloads directory,
 *     transcript, ledger;
 *   - exact-copy checks against the mail generator's messages (the retriever's own Received
 *     header, when present, is taken off the top before comparing byte for byte).
 *
 * Temp dirs come from the mailnode-process harness (makeTempDir): stopAllMailnodes() removes them.
 */
import { chmod, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startDovecot, type DovecotInstance } from '../harness/dovecot.ts';
import { describeRun, runTool, type ToolResult } from '../harness/external-tool.ts';
import type { GeneratedMessage } from '../harness/mail-generator.ts';
import { deepMerge, MAILNODE_MAIN, makeTempDir, WORKSPACE } from '../harness/mailnode-process.ts';

/** Every remote (Dovecot) user has the password `pw-<name>`. */
export const remotePassword = (user: string): string => `pw-${user}`;

/** A Dovecot with one remote user per entry, each mailbox filled with what its generator makes. */
export async function startFilledDovecot(
  remote: Record<string, () => GeneratedMessage[]>,
): Promise<{ dovecot: DovecotInstance; mail: Map<string, GeneratedMessage[]> }> {
  const dovecot = await startDovecot({ users: Object.keys(remote).map((name) => ({ name, password: remotePassword(name) })) });
  const mail = new Map<string, GeneratedMessage[]>();
  for (const [user, make] of Object.entries(remote)) {
    const messages = make();
    mail.set(user, messages);
    await dovecot.fill(user, messages);
  }
  return { dovecot, mail };
}

export const DEFAULT_LOCAL_USERS = 'alice:pw-alice\nbob:pw-bob\n';

/** What one fetch run is allowed to take before the test gives up on it (it is killed then). */
export const FETCH_TIMEOUT_MS = 45_000;

export interface RetrieverEnv {
  readonly dir: string;
  readonly stateDir: string;
  readonly usersFile: string;
  readonly aliasesFile: string;
  readonly domainsFile: string;
  readonly transcript: string;
  readonly audit: string;
  readonly uidlDir: string;
  readonly logFile: string;
  readonly configFile: string;
  readonly mailRoot: string;
}

export async function retrieverEnv(options: { users?: string; aliases?: string; domains?: string } = {}): Promise<RetrieverEnv> {
  const dir = await makeTempDir('mailnode-retriever-');
  const env: RetrieverEnv = {
    dir,
    stateDir: join(dir, 'state'),
    usersFile: join(dir, 'users'),
    aliasesFile: join(dir, 'aliases'),
    domainsFile: join(dir, 'domains'),
    transcript: join(dir, 'logs', 'retriever.transcript'),
    audit: join(dir, 'logs', 'retriever.audit'),
    uidlDir: join(dir, 'state', 'retriever'),
    logFile: join(dir, 'logs', 'mailnode.log'),
    configFile: join(dir, 'mailnode.yaml'),
    mailRoot: join(dir, 'state', 'mail'),
  };
  await writeFile(env.usersFile, options.users ?? DEFAULT_LOCAL_USERS, { mode: 0o600 });
  if (options.aliases !== undefined) await writeFile(env.aliasesFile, options.aliases, { mode: 0o600 });
  if (options.domains !== undefined) await writeFile(env.domainsFile, options.domains, { mode: 0o600 });
  return env;
}

/** A whole config file for the node, retriever only (the POP3 server is off). */
export function fetchConfig(env: RetrieverEnv, clients: readonly Record<string, unknown>[], pop3download: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    state_dir: env.stateDir,
    hostname: 'mailnode.test',
    logging: { level: 'info', file: env.logFile },
    directory: { type: 'files', users: env.usersFile, aliases: env.aliasesFile, domains: env.domainsFile, reload_check: '0s' },
    pop3server: { enabled: 'N' },
    pop3download: {
      transcript: env.transcript,
      audit: env.audit,
      timeout: '15s',
      delay_start: '0s',
      uidl_dir: env.uidlDir,
      ...pop3download,
      clients,
    },
  };
}

/** A retriever client for Dovecot's plain port (USER/PASS by default), merged with `over`. */
export function dovecotClient(dovecot: DovecotInstance, id: string, remoteUser: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return deepMerge(
    {
      id,
      recip: 'alice',
      freq: 0,
      server: { address: `127.0.0.1:${dovecot.plainPort}`, username: remoteUser, password: remotePassword(remoteUser) },
    },
    over,
  );
}

export async function writeConfig(env: RetrieverEnv, config: Record<string, unknown>, mode = 0o600): Promise<void> {
  await writeFile(env.configFile, `${JSON.stringify(config, null, 2)}\n`, { mode });
  await chmod(env.configFile, mode);
}

/** `node apps/mailnode ARGS` from the workspace, bounded by FETCH_TIMEOUT_MS. */
export function runMailnode(args: readonly string[], options: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<ToolResult> {
  return runTool(process.execPath, [MAILNODE_MAIN, ...args], {
    cwd: WORKSPACE,
    env: { NODE_OPTIONS: undefined, ...options.env },
    timeoutMs: options.timeoutMs ?? FETCH_TIMEOUT_MS,
  });
}

/** Writes the config (mode 0600 unless told) and runs `fetch --once --config FILE [ids]`. */
export async function runFetch(
  env: RetrieverEnv,
  config: Record<string, unknown>,
  ids: readonly string[] = [],
  options: { mode?: number; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<ToolResult> {
  await writeConfig(env, config, options.mode);
  return runMailnode(['fetch', '--once', '--config', env.configFile, ...ids], { env: options.env, timeoutMs: options.timeoutMs });
}

async function tailOf(path: string, lines: number): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).split('\n').slice(-lines - 1).join('\n');
  } catch {
    return '(none)';
  }
}

/** For assertion messages: what the run printed, and the ends of its log and transcript. */
export async function explain(run: ToolResult, env: RetrieverEnv, dovecot?: DovecotInstance): Promise<string> {
  return [
    describeRun(run),
    `--- log\n${await tailOf(env.logFile, 15)}`,
    `--- transcript\n${await tailOf(env.transcript, 30)}`,
    dovecot ? `--- dovecot\n${dovecot.logTail(15)}` : '',
  ].join('\n');
}

// ---- transcript ---------------------------------------------------------------------------------

export interface TranscriptLine {
  /** Epoch milliseconds of the line. */
  readonly at: number;
  readonly session: string;
  /** C: client, S: server, -- a note. */
  readonly dir: 'C:' | 'S:' | '--';
  readonly text: string;
}

export async function readTranscript(path: string): Promise<TranscriptLine[]> {
  let text: string;
  try {
    text = await readFile(path, 'latin1');
  } catch {
    return [];
  }
  const lines: TranscriptLine[] = [];
  for (const line of text.split('\n')) {
    const match = /^(\S+) (\S+) (C:|S:|--) ?(.*)$/.exec(line);
    if (match) lines.push({ at: Date.parse(match[1]!), session: match[2]!, dir: match[3] as TranscriptLine['dir'], text: match[4]! });
  }
  return lines;
}

/** Sessions in order of their first line; each one's lines in order. */
export function transcriptSessions(lines: readonly TranscriptLine[]): TranscriptLine[][] {
  const sessions = new Map<string, TranscriptLine[]>();
  for (const line of lines) {
    const list = sessions.get(line.session);
    if (list) list.push(line);
    else sessions.set(line.session, [line]);
  }
  return [...sessions.values()];
}

/** What the client sent in one session (or all of them). */
export const sentBy = (lines: readonly TranscriptLine[]): string[] => lines.filter((line) => line.dir === 'C:').map((line) => line.text);

/** Sessions whose notes say `connecting to`, for client id `id` (sessions are named `<id>-<time>`). */
export function sessionsOf(lines: readonly TranscriptLine[], id: string): TranscriptLine[][] {
  return transcriptSessions(lines).filter((session) => session[0]!.session.startsWith(`${id}-`) && session.some((line) => line.dir === '--' && line.text.startsWith('connecting to')));
}

// ---- ledger -------------------------------------------------------------------------------------

export async function readLedger(env: RetrieverEnv, clientId: string): Promise<{ delivered: string[]; pending: string[]; lines: number }> {
  let text = '';
  try {
    text = await readFile(join(env.uidlDir, `${clientId}.uidl`), 'utf8');
  } catch {
    return { delivered: [], pending: [], lines: 0 };
  }
  const delivered: string[] = [];
  const pending: string[] = [];
  let lines = 0;
  for (const line of text.split('\n')) {
    if (!line) continue;
    lines++;
    const entry = JSON.parse(line) as { d?: string; p?: string };
    if (entry.d !== undefined) delivered.push(entry.d);
    else if (entry.p !== undefined) pending.push(entry.p);
  }
  return { delivered, pending, lines };
}

// ---- mail on disk -------------------------------------------------------------------------------

export interface MailFile {
  readonly name: string;
  readonly path: string;
  readonly bytes: Buffer;
}

export const localMaildir = (env: RetrieverEnv, user: string): string => join(env.mailRoot, user, 'Maildir');

/** A file's bytes, or undefined when it vanished meanwhile (a server deleting or renaming it while we look). */
async function readIfPresent(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Message files of a Maildir (new/ and cur/, no dot files); none when it does not exist. */
export async function maildirFiles(dir: string): Promise<MailFile[]> {
  const files: MailFile[] = [];
  for (const sub of ['new', 'cur']) {
    let names: string[];
    try {
      names = await readdir(join(dir, sub));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    for (const name of names.sort()) {
      if (name.startsWith('.')) continue;
      const path = join(dir, sub, name);
      const bytes = await readIfPresent(path);
      if (bytes) files.push({ name, path, bytes });
    }
  }
  return files;
}

/** Every entry of a plain directory (downloads directory), dot files included. */
export async function directoryFiles(dir: string): Promise<MailFile[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const files: MailFile[] = [];
  for (const name of names.sort()) {
    const path = join(dir, name);
    const bytes = await readIfPresent(path);
    if (bytes) files.push({ name, path, bytes });
  }
  return files;
}

/** Messages still in a Dovecot user's Maildir. */
export const remoteFiles = (dovecot: DovecotInstance, user: string): Promise<MailFile[]> => maildirFiles(dovecot.maildirOf(user));

// ---- exact copies -------------------------------------------------------------------------------

const MESSAGE_ID = /^message-id:[ \t]*(<[^>\r\n]*>)/im;

export function messageIdOf(bytes: Buffer): string | undefined {
  const text = bytes.toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  return MESSAGE_ID.exec(end >= 0 ? text.slice(0, end) : text)?.[1];
}

/** CRLF → LF. */
export const lf = (bytes: Buffer): Buffer => Buffer.from(bytes.toString('latin1').replaceAll('\r\n', '\n'), 'latin1');

/** The trace header mailnode's retriever puts on top (received-header.ts), LF form. */
const MAILNODE_RECEIVED = /^Received: from (\S+)\n\tby (\S+) \(mailnode\) with POP3(?: id (\S+))?\n\tfor <([^>\n]*)>; ([^\n]+)\n/;

export interface ReceivedInfo {
  readonly from: string;
  readonly by: string;
  readonly id?: string;
  readonly recip: string;
  readonly date: string;
}

/** Splits an LF-normalised copy into mailnode's Received header (if it starts with one) and the rest. */
export function splitReceived(copy: Buffer): { received?: ReceivedInfo; rest: Buffer } {
  const text = copy.toString('latin1');
  const match = MAILNODE_RECEIVED.exec(text);
  if (!match) return { rest: copy };
  return {
    received: { from: match[1]!, by: match[2]!, id: match[3], recip: match[4]!, date: match[5]! },
    rest: Buffer.from(text.slice(match[0].length), 'latin1'),
  };
}

export interface CopyCheck {
  /** Whether each copy must start with mailnode's Received header, or must not have one. */
  readonly received: 'required' | 'absent';
  /** With a Received header: the `for <...>` it must name. */
  readonly recip?: string;
}

/**
 * Problems found comparing delivered copies (any line ends) with the generated messages: each
 * message exactly once, byte-identical after CRLF→LF and after taking off mailnode's Received
 * header. Returns [] when everything matches.
 */
export function copyProblems(copies: ReadonlyArray<{ name: string; bytes: Buffer }>, expected: readonly GeneratedMessage[], check: CopyCheck): string[] {
  const byId = new Map(expected.map((message) => [message.messageId, message]));
  const seen = new Map<string, number>();
  const problems: string[] = [];
  for (const copy of copies) {
    const normal = lf(copy.bytes);
    const { received, rest } = splitReceived(normal);
    if (check.received === 'required' && !received) problems.push(`${copy.name}: no mailnode Received header on top: ${JSON.stringify(normal.subarray(0, 120).toString('latin1'))}`);
    if (check.received === 'absent' && received) problems.push(`${copy.name}: has a mailnode Received header`);
    if (received && check.recip !== undefined && received.recip !== check.recip) problems.push(`${copy.name}: Received header says for <${received.recip}>, expected <${check.recip}>`);
    const id = messageIdOf(rest);
    const message = id ? byId.get(id) : undefined;
    if (!id || !message) {
      problems.push(`${copy.name}: unexpected message ${id ?? '(no Message-ID)'}`);
      continue;
    }
    seen.set(id, (seen.get(id) ?? 0) + 1);
    if (!rest.equals(message.bytes)) problems.push(`${copy.name}: ${id} differs from the generated message (${rest.length} vs ${message.bytes.length} bytes)`);
  }
  for (const message of expected) {
    const count = seen.get(message.messageId) ?? 0;
    if (count !== 1) problems.push(`${message.messageId}: delivered ${count} times`);
  }
  return problems;
}

/** A text file's content, '' when it does not exist. */
export async function readFileText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw error;
  }
}

export const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
