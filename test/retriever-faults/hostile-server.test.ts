/**
 * The real `node apps/mailnode fetch --once` against a scripted, broken or hostile POP3 server
 * (test/harness/scripted-pop3-server.ts) with a short timeout (2 s) and small limits. In every
 * case: the run ends by itself with the right exit status, one clear log line (JSON on stderr)
 * names the problem, nothing partial shows up in new/ or cur/, and the server never receives
 * a DELE for a message that is not durably stored here.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startScriptedPop3, type ScriptedMessage, type ScriptedPop3Options, type ScriptedPop3Server } from '../harness/scripted-pop3-server.ts';
import {
  describeFetch,
  fetchOnce,
  filesIn,
  killAllFetches,
  messageIdsIn,
  partialFiles,
  problems,
  writeFetchConfig,
  type FetchConfig,
  type FetchRun,
  type FetchRunOptions,
  type FetchSetup,
} from './fetch-process.ts';

const servers: ScriptedPop3Server[] = [];
const dirs: string[] = [];

afterEach(async () => {
  killAllFetches();
  await Promise.all(servers.splice(0).map((server) => server.stop()));
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});
afterAll(() => killAllFetches());

const TIMEOUT_MS = 2000;
const MiB = 1024 * 1024;

/** A small message with a Message-ID, LF line ends (the server sends CRLF). */
function message(i: number, lines = 20): ScriptedMessage {
  const body = Array.from({ length: lines }, (_, k) => (k % 5 === 4 ? `.dot line ${k}` : `line ${k} of message ${i}`)).join('\n');
  return { data: `From: sender@example.org\nTo: alice@example.net\nSubject: message ${i}\nMessage-ID: <m${i}@scripted.test>\n\n${body}\n`, uidl: `uidl-${i}` };
}

/** A message of about `bytes` bytes. */
function bigMessage(i: number, bytes: number): ScriptedMessage {
  const line = `${'b'.repeat(76)}\n`;
  return { data: `Subject: big ${i}\nMessage-ID: <big${i}@scripted.test>\n\n${line.repeat(Math.ceil(bytes / line.length))}`, uidl: `big-${i}` };
}

const idOf = (m: ScriptedMessage) => /Message-ID: (<[^>]+>)/.exec(m.data.toString())![1]!;

interface Scenario {
  readonly server: ScriptedPop3Server;
  readonly setup: FetchSetup;
  readonly run: FetchRun;
  /** The messages the server started with. */
  readonly messages: readonly ScriptedMessage[];
}

async function scenario(
  options: ScriptedPop3Options & { messages: readonly ScriptedMessage[] },
  config: Partial<FetchConfig> = {},
  runOptions: FetchRunOptions = {},
): Promise<Scenario> {
  const server = await startScriptedPop3(options);
  servers.push(server);
  const dir = await mkdtemp(join(tmpdir(), 'mailnode-hostile-'));
  dirs.push(dir);
  const setup = await writeFetchConfig(dir, { address: `127.0.0.1:${server.port}`, timeout: `${TIMEOUT_MS / 1000}s`, ...config });
  const run = await fetchOnce(setup, { deadlineMs: 30_000, ...runOptions });
  return { server, setup, run, messages: options.messages };
}

/** Exactly one warn-or-worse log line, the retriever's 'retrieval failed', whose error matches; returns it. */
function expectOneFailureLine(run: FetchRun, error: RegExp): Record<string, unknown> {
  const lines = problems(run);
  const failures = lines.filter((record) => record.msg === 'retrieval failed');
  expect(failures, describeFetch(run)).toHaveLength(1);
  expect(lines, `other warnings: ${JSON.stringify(lines)}`).toHaveLength(1);
  const line = failures[0]!;
  expect(String(line.error), describeFetch(run)).toMatch(error);
  expect(run.stdout).toMatch(/FAILED at \S+: /);
  // No stack trace: a clean, explained failure.
  expect(run.stderr).not.toMatch(/^\s+at /m);
  return line;
}

/**
 * The safety rule seen from the server: every DELE it received names a message whose copy is
 * in alice's Maildir (new/ or cur/), and nothing there is partial.
 */
function expectOnlySafeDeletes(s: Scenario): void {
  const stored = new Set(messageIdsIn(s.setup.maildir));
  for (const connection of s.server.connections) {
    for (const line of connection.commands.filter((c) => c.toUpperCase().startsWith('DELE '))) {
      const n = Number(line.split(' ')[1]);
      // Numbers are per session: the mailbox a session saw is the initial one minus earlier commits.
      const seen = sessionMailbox(s, connection.id);
      const target = seen[n - 1];
      expect(target, `DELE ${n} of a message that does not exist`).toBeDefined();
      expect(stored.has(idOf(target!)), `DELE ${n} (${idOf(target!)}) but it is not stored`).toBe(true);
    }
  }
  expect(partialFiles(s.setup.maildir)).toEqual([]);
}

/** The mailbox as session `id` saw it (the test's sessions run one after the other). */
function sessionMailbox(s: Scenario, id: number): readonly ScriptedMessage[] {
  let mailbox = [...s.messages];
  for (const connection of s.server.connections) {
    if (connection.id === id) return mailbox;
    if (connection.committed) mailbox = mailbox.filter((_, index) => !connection.deleted.has(index + 1));
  }
  return mailbox;
}

describe('hostile POP3 server: greeting', () => {
  it('a malformed greeting → exit 1, one line naming it (stage greeting), no credentials sent', async () => {
    const s = await scenario({ messages: [message(1)], greeting: 'HELLO this is not POP3' });
    expect(s.run.code, describeFetch(s.run)).toBe(1);
    const line = expectOneFailureLine(s.run, /malformed reply from server: "HELLO this is not POP3(\\r)?"/);
    expect(s.server.received()).toEqual([]);
    expect(messageIdsIn(s.setup.maildir)).toEqual([]);
    expect(line.stage, 'the failure happened at the greeting').toBe('greeting');
  });

  it('a greeting -ERR → exit 1, "server refused the connection"', async () => {
    const s = await scenario({ messages: [message(1)], greeting: '-ERR [SYS/TEMP] too busy' });
    expect(s.run.code, describeFetch(s.run)).toBe(1);
    const line = expectOneFailureLine(s.run, /refused the connection: too busy/);
    expect(s.server.received()).toEqual([]);
    expect(line.stage).toBe('greeting');
  });

  it('a server that never answers → clean failure within about the timeout (stage greeting)', async () => {
    const s = await scenario({ messages: [message(1)], greeting: () => {} });
    expect(s.run.code, describeFetch(s.run)).toBe(1);
    const line = expectOneFailureLine(s.run, /did not answer within 2 s/);
    // Startup (~1 s) + the 2 s timeout; never the 4-minute default or a hang.
    expect(s.run.elapsedMs).toBeGreaterThanOrEqual(TIMEOUT_MS);
    expect(s.run.elapsedMs).toBeLessThan(TIMEOUT_MS + 6000);
    expect(line.stage, 'the failure happened waiting for the greeting').toBe('greeting');
  });

  it('a 1 MB greeting line without a line end → clean failure at once, bounded memory', async () => {
    const s = await scenario(
      {
        messages: [message(1)],
        greeting: async (_connection, ctx) => {
          await ctx.write(Buffer.alloc(MiB, 'A'));
        },
      },
      { limits: { line_length: 4096 } },
    );
    expect(s.run.code, describeFetch(s.run)).toBe(1);
    expectOneFailureLine(s.run, /longer than 4096 bytes/);
    expect(s.run.elapsedMs).toBeLessThan(TIMEOUT_MS + 4000);
    expect(s.run.peakRssKb).toBeLessThan(150 * 1024);
  });
});

describe('hostile POP3 server: malformed and oversize replies', () => {
  it('a malformed reply to USER → exit 1, the password is never sent', async () => {
    const s = await scenario({ messages: [message(1)], commands: { USER: (ctx) => ctx.reply('OK go on') } });
    expect(s.run.code, describeFetch(s.run)).toBe(1);
    expectOneFailureLine(s.run, /malformed reply from server: "OK go on(\\r)?"/);
    expect(s.server.received('PASS')).toEqual([]);
    expect(s.server.received('RETR')).toEqual([]);
  });

  it('a malformed status for RETR 2 → exit 1, no DELE at all, nothing stored', async () => {
    const s = await scenario({
      messages: [message(1), message(2), message(3)],
      commands: { RETR: (ctx) => (ctx.args[0] === '2' ? ctx.write('+Okay here it comes\r\n') : ctx.standard()) },
    });
    expect(s.run.code, describeFetch(s.run)).toBe(1);
    expectOneFailureLine(s.run, /malformed reply from server: "\+Okay here it comes(\\r)?"/);
    expect(s.server.received('DELE')).toEqual([]);
    expect(messageIdsIn(s.setup.maildir)).toEqual([]);
    expectOnlySafeDeletes(s);
  });

  it('a 1 MB reply line without a line end (answer to LIST) → clean failure at once, bounded memory', async () => {
    const s = await scenario(
      {
        messages: [message(1)],
        commands: { LIST: (ctx) => ctx.write(Buffer.concat([Buffer.from('+OK '), Buffer.alloc(MiB, 'L')])) },
      },
      { limits: { line_length: 4096 } },
    );
    expect(s.run.code, describeFetch(s.run)).toBe(1);
    expectOneFailureLine(s.run, /longer than 4096 bytes/);
    expect(s.run.elapsedMs).toBeLessThan(TIMEOUT_MS + 4000);
    expect(s.run.peakRssKb).toBeLessThan(150 * 1024);
    expect(s.server.received('RETR')).toEqual([]);
  });

  it('a 1 MB line without a line end inside a message body → clean failure, no DELE, nothing stored', async () => {
    const s = await scenario(
      {
        messages: [message(1), message(2)],
        commands: {
          RETR: async (ctx) => {
            if (ctx.args[0] !== '2') return ctx.standard();
            await ctx.write('+OK\r\nSubject: x\r\n\r\n');
            await ctx.write(Buffer.alloc(MiB, 'x'));
          },
        },
      },
      { limits: { line_length: 4096 } },
    );
    expect(s.run.code, describeFetch(s.run)).toBe(1);
    expectOneFailureLine(s.run, /line longer than 4096 bytes/);
    expect(s.server.received('DELE')).toEqual([]);
    expect(messageIdsIn(s.setup.maildir)).toEqual([]);
    expect(s.run.peakRssKb).toBeLessThan(150 * 1024);
  });

  it('an endless LIST → stops at the 64 MiB listing cap, exit 1, nothing fetched, memory bounded by that cap', async () => {
    const s = await scenario({
      messages: [message(1)],
      commands: {
        LIST: async (ctx) => {
          await ctx.write('+OK\r\n');
          const block = Array.from({ length: 1000 }, (_, k) => `${k + 1} 4096\r\n`).join('');
          await ctx.streamForever(block, { maxMs: 20_000, maxBytes: 256 * MiB });
        },
      },
    });
    expect(s.run.code, describeFetch(s.run)).toBe(1);
    const line = expectOneFailureLine(s.run, /larger than 67108864 bytes/);
    expect(s.server.received('RETR')).toEqual([]);
    expect(s.run.peakRssKb, `peak RSS ${Math.round(s.run.peakRssKb / 1024)} MiB`).toBeLessThan(256 * 1024);
    expect(line.stage, 'the failure happened while listing').toBe('list');
  });
});

describe('hostile POP3 server: truncated and endless messages', () => {
  it('connection dropped mid-RETR → exit 1, nothing partial anywhere, no DELE; a later good run gets every message once', async () => {
    const messages = [message(1), message(2, 400), message(3)];
    let drop = true;
    const s = await scenario({
      messages,
      commands: {
        RETR: async (ctx) => {
          if (ctx.args[0] !== '2' || !drop) return ctx.standard();
          await ctx.write('+OK 9000 octets\r\nFrom: sender@example.org\r\nSubject: message 2\r\nMessage-ID: <m2@scripted.test>\r\n\r\nline 0 of mess');
          await new Promise((resolve) => setTimeout(resolve, 50));
          ctx.destroy();
        },
      },
    });
    expect(s.run.code, describeFetch(s.run)).toBe(1);
    expectOneFailureLine(s.run, /closed the connection|connection failed/);
    expect(s.server.received('DELE')).toEqual([]);
    expect(filesIn(s.setup.maildir, 'new')).toEqual([]);
    expect(filesIn(s.setup.maildir, 'cur')).toEqual([]);
    expect(filesIn(s.setup.maildir, 'tmp'), 'a partial staging file was left behind').toEqual([]);

    // The server behaves again: the next run delivers all three, each exactly once.
    drop = false;
    const again = await fetchOnce(s.setup, { deadlineMs: 30_000 });
    expect(again.code, describeFetch(again)).toBe(0);
    expect(messageIdsIn(s.setup.maildir)).toEqual(messages.map(idOf).sort());
    expect(s.server.mailbox).toEqual([]);
    expectOnlySafeDeletes(s);
  });

  it('connection dropped in the middle of a large (streamed) message → nothing partial, tmp/ cleaned, no DELE', async () => {
    const big = bigMessage(2, 3 * MiB);
    const s = await scenario({
      messages: [message(1), big],
      commands: {
        RETR: async (ctx) => {
          if (ctx.args[0] !== '2') return ctx.standard();
          const wire = Buffer.from(big.data.toString().replace(/\n/g, '\r\n'));
          await ctx.write(Buffer.concat([Buffer.from('+OK\r\n'), wire.subarray(0, 2 * MiB)]));
          await new Promise((resolve) => setTimeout(resolve, 100));
          ctx.destroy();
        },
      },
    });
    expect(s.run.code, describeFetch(s.run)).toBe(1);
    expectOneFailureLine(s.run, /closed the connection|connection failed/);
    expect(s.server.received('DELE')).toEqual([]);
    expect(partialFiles(s.setup.maildir)).toEqual([]);
    expect(messageIdsIn(s.setup.maildir)).toEqual([]);
    expect(filesIn(s.setup.maildir, 'tmp'), 'a partial staging file was left behind').toEqual([]);
  });

  it('endless RETR data → stops at max_message_size, no DELE, bounded memory, nothing left on disk', async () => {
    const maxMessageSize = 128 * MiB;
    const s = await scenario(
      {
        messages: [message(1), message(2)],
        commands: {
          RETR: async (ctx) => {
            if (ctx.args[0] !== '2') return ctx.standard();
            await ctx.write('+OK\r\nSubject: endless\r\n\r\n');
            await ctx.streamForever(`${'z'.repeat(1022)}\r\n`, { maxMs: 25_000, maxBytes: 4 * maxMessageSize });
          },
        },
      },
      { limits: { max_message_size: maxMessageSize } },
    );
    expect(s.run.code, describeFetch(s.run)).toBe(1);
    expectOneFailureLine(s.run, new RegExp(`larger than ${maxMessageSize} bytes`));
    expect(s.server.received('DELE')).toEqual([]);
    expect(messageIdsIn(s.setup.maildir)).toEqual([]);
    // It read (about) the limit and no more than a little past it.
    expect(s.server.streamedBytes).toBeGreaterThanOrEqual(maxMessageSize);
    // Bounded, not proportional: `node apps/mailnode` (tsx) alone peaks at ~110 MiB and a streamed
    // message adds some tens of MiB of transient buffers whatever its size (measured ~150-190 MiB
    // for limits of 8 to 512 MiB); buffering this 128 MiB message would take it past 240 MiB.
    expect(s.run.peakRssKb, `peak RSS ${Math.round(s.run.peakRssKb / 1024)} MiB`).toBeLessThan(200 * 1024);
    expect(filesIn(s.setup.maildir, 'tmp'), 'the partial message was left in tmp/').toEqual([]);
  });

  it('a large message (3 MB) from a well-behaved server is retrieved intact (streamed to disk)', async () => {
    const big = bigMessage(1, 3 * MiB);
    const s = await scenario({ messages: [big, message(2)] }, { timeout: '3s' });
    expect(s.run.code, describeFetch(s.run)).toBe(0);
    expect(messageIdsIn(s.setup.maildir)).toEqual([idOf(big), idOf(message(2))].sort());
    expect(partialFiles(s.setup.maildir)).toEqual([]);
    expectOnlySafeDeletes(s);
  });

  it('the server stops answering in the middle of RETR → clean failure within about the timeout, no DELE', async () => {
    const s = await scenario({
      messages: [message(1), message(2)],
      commands: { RETR: (ctx) => (ctx.args[0] === '2' ? ctx.write('+OK\r\nSubject: stalled\r\n') : ctx.standard()) },
    });
    expect(s.run.code, describeFetch(s.run)).toBe(1);
    expectOneFailureLine(s.run, /did not answer within 2 s/);
    expect(s.run.elapsedMs).toBeLessThan(TIMEOUT_MS + 6000);
    expect(s.server.received('DELE')).toEqual([]);
    expect(messageIdsIn(s.setup.maildir)).toEqual([]);
  });
});

describe('hostile POP3 server: refusals', () => {
  it('RETR -ERR for a listed message → skipped (warned), not deleted; the others are delivered and deleted', async () => {
    const messages = [message(1), message(2), message(3)];
    const s = await scenario({
      messages,
      commands: { RETR: (ctx) => (ctx.args[0] === '2' ? ctx.reply('-ERR [SYS/PERM] message 2 is unreadable') : ctx.standard()) },
    });
    expect(s.run.code, describeFetch(s.run)).toBe(0);
    const warnings = problems(s.run);
    expect(warnings, describeFetch(s.run)).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ msg: expect.stringMatching(/RETR refused/), number: 2, uidl: 'uidl-2' });
    expect(s.server.received('DELE').sort()).toEqual(['DELE 1', 'DELE 3']);
    expect(messageIdsIn(s.setup.maildir)).toEqual([idOf(messages[0]!), idOf(messages[2]!)].sort());
    expect(s.server.mailbox.map(idOf)).toEqual([idOf(messages[1]!)]);
    expectOnlySafeDeletes(s);
  });

  it('DELE -ERR → logged, the run still ends (exit 0); the next run deletes it without fetching it again', async () => {
    const messages = [message(1), message(2), message(3)];
    let refuse = true;
    const s = await scenario({
      messages,
      commands: { DELE: (ctx) => (refuse && ctx.args[0] === '2' ? ctx.reply('-ERR [SYS/TEMP] cannot delete message 2 now') : ctx.standard()) },
    });
    expect(s.run.code, describeFetch(s.run)).toBe(0);
    expect(messageIdsIn(s.setup.maildir)).toEqual(messages.map(idOf).sort());
    expect(s.run.stdout).toMatch(/3 messages, .* 2 deleted from the server/);
    expect(s.server.mailbox.map(idOf)).toEqual([idOf(messages[1]!)]);

    refuse = false;
    const again = await fetchOnce(s.setup, { deadlineMs: 30_000 });
    expect(again.code, describeFetch(again)).toBe(0);
    expect(s.server.connections[1]!.commands.filter((c) => c.startsWith('RETR'))).toEqual([]);
    expect(s.server.connections[1]!.commands).toContain('DELE 1');
    expect(s.server.mailbox).toEqual([]);
    expect(messageIdsIn(s.setup.maildir)).toEqual(messages.map(idOf).sort());
    expectOnlySafeDeletes(s);

    // The refusal itself must be visible in the log (a message left on the server is news).
    const refusal = problems(s.run).find((record) => /DELE/i.test(JSON.stringify(record)));
    expect(refusal, `no log line about the refused DELE:\n${s.run.stderr}`).toBeDefined();
  });

  it('login refused → exit 1, stage auth, nothing listed', async () => {
    const s = await scenario({ messages: [message(1)], users: { alice: 'another password' } });
    expect(s.run.code, describeFetch(s.run)).toBe(1);
    const line = expectOneFailureLine(s.run, /login refused: USERPASS: .*invalid login/);
    expect(s.server.received('LIST')).toEqual([]);
    expect(line.stage).toBe('auth');
  });
});
