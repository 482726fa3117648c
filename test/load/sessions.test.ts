/**
 * Load: thousands of concurrent POP3 sessions against a real `node apps/mailnode` on loopback.
 * Each of SESSIONS client slots loops for DURATION: connect, USER/PASS, STAT, LIST, UIDL, RETR of
 * a small message (verified byte for byte), NOOP, QUIT. Asserts no errors and that every session
 * ends with +OK at QUIT; records latency percentiles per command and for login, throughput and
 * the server's peak RSS; prints them and writes them to test/load/last-run.json.
 *
 * Clients pause THINK_MS (uniform 0.5x-1.5x) before each command, like real clients and so that
 * the server runs loaded but below saturation (about half its capacity on 2 cores): the latencies
 * then measure the server, not a queue. The saturating variant (no think time) is below, skipped.
 *
 * CI: 2 000 slots for 20 s. MAILNODE_LONG=1: 4 000 slots for 120 s. LOAD_SESSIONS, LOAD_SECONDS,
 * LOAD_THINK_MS and LOAD_USERS override. By default every slot has its own mailbox: mailnode locks a mailbox
 * per session, so slots sharing a user would get [IN-USE]. With LOAD_USERS below LOAD_SESSIONS,
 * slots sharing a user keep their connection open and take turns to log in (client-side queue).
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedSize, type GeneratedMessage } from '../harness/mail-generator.ts';
import { startMailnode, stopAllMailnodes, type MailnodeProcess } from '../harness/mailnode-process.ts';
import { isAlive, processCpuSeconds } from '../harness/proc-stats.ts';
import { fillMailbox, makeUsers, usersFile, type TestUser } from '../hostile/mailboxes.ts';
import { expectServesNormally, errorLogLines } from '../hostile/node-health.ts';
import { destroyAllSockets, Pop3Socket, sleep } from '../hostile/pop3-socket.ts';
import { mib, rssBytes, watchRss } from '../hostile/server-memory.ts';
import { formatTable, LatencyRecorder } from './latency-stats.ts';
import { listenOverflows } from './tcp-counters.ts';

const LONG = process.env.MAILNODE_LONG === '1';
const SESSIONS = Number(process.env.LOAD_SESSIONS ?? (LONG ? 4000 : 2000));
const DURATION_MS = Number(process.env.LOAD_SECONDS ?? (LONG ? 120 : 20)) * 1000;
const USERS = Math.min(SESSIONS, Number(process.env.LOAD_USERS ?? SESSIONS));
/** Mean pause before each command (8 per session): 750 ms per 2 000 slots keeps the offered load the same for more slots. */
const THINK_MS = Number(process.env.LOAD_THINK_MS ?? Math.round((750 * SESSIONS) / 2000));
const MESSAGES_PER_USER = 5;
const MESSAGE_SIZE = 3000;
/** Slots start spread over this long, so the listen backlog is not flooded with SYNs at once. */
const RAMP_MS = Math.min(5000, Math.max(1000, SESSIONS));
/** Any single reply taking longer than this is an error. */
const REPLY_TIMEOUT_MS = 30_000;
const RESULT_FILE = fileURLToPath(new URL('./last-run.json', import.meta.url));

const users = makeUsers(USERS, 'ld');
const messages: GeneratedMessage[] = fixedSize(MESSAGES_PER_USER, MESSAGE_SIZE, 11, 'load');
let node: MailnodeProcess;

beforeAll(async () => {
  node = await startMailnode({
    users: usersFile(users),
    config: {
      logging: { level: 'warn' },
      pop3server: { limits: { connections: SESSIONS + 100, connections_per_ip: SESSIONS + 100, auth_failure_delay: '0s' } },
    },
  });
  for (let i = 0; i < users.length; i += 50) {
    await Promise.all(users.slice(i, i + 50).map((user) => fillMailbox(node.mailRoot, user.name, messages)));
  }
}, 120_000);

afterAll(async () => {
  destroyAllSockets();
  await stopAllMailnodes();
});

/** RETR body (dot-stuffed, CRLF) back to the stored bytes (LF), hashed. */
function storedSha256(body: Buffer): string {
  const text = body
    .toString('latin1')
    .split('\r\n')
    .map((line) => (line.startsWith('.') ? line.slice(1) : line))
    .join('\n');
  return createHash('sha256').update(text, 'latin1').digest('hex');
}

/** One mutex per user, for the shared-mailbox mode. */
const turns = new Map<string, Promise<void>>();
async function takeTurn(user: string): Promise<() => void> {
  const previous = turns.get(user) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((resolve) => (release = resolve));
  const chained = previous.then(() => mine);
  turns.set(user, chained);
  await previous;
  return () => {
    release();
    if (turns.get(user) === chained) turns.delete(user);
  };
}

interface Counters {
  sessions: number;
  commands: number;
  open: number;
  peakOpen: number;
  errors: string[];
}

function expectReply(what: string, reply: string, pattern: RegExp): void {
  if (!pattern.test(reply)) throw new Error(`${what}: ${reply}`);
}

async function oneSession(user: TestUser, latency: LatencyRecorder, counters: Counters, pick: number, thinkMs: number): Promise<void> {
  const sessionStart = performance.now();
  let step = 'connect';
  const client = await latency
    .time('connect', () => Pop3Socket.connect(node.ports.pop3, { timeoutMs: REPLY_TIMEOUT_MS }))
    .catch((error: Error) => {
      throw new Error(`connect: ${error.message}`);
    });
  counters.open++;
  counters.peakOpen = Math.max(counters.peakOpen, counters.open);
  const release = USERS < SESSIONS ? await takeTurn(user.name) : () => undefined;
  try {
    step = 'greeting';
    expectReply('greeting', await latency.time('greeting', () => client.line(REPLY_TIMEOUT_MS)), /^\+OK /);
    let lastMs = 0;
    /** Think, send, read the reply (and body); records the time from send to the last byte. */
    const command = async (name: string, line: string, pattern: RegExp, multiline = false): Promise<Buffer | undefined> => {
      step = line;
      if (thinkMs > 0) await sleep(thinkMs * (0.5 + Math.random()));
      const start = performance.now();
      const status = await client.command(line, REPLY_TIMEOUT_MS);
      expectReply(`${user.name} ${line}`, status, pattern);
      const body = multiline ? await client.multiline(REPLY_TIMEOUT_MS) : undefined;
      lastMs = performance.now() - start;
      latency.record(name, lastMs);
      counters.commands++;
      return body;
    };
    await command('USER', `USER ${user.name}`, /^\+OK/);
    const userMs = lastMs;
    await command('PASS', `PASS ${user.password}`, new RegExp(`^\\+OK Logged in, ${MESSAGES_PER_USER} messages`));
    // Login = both round trips, without the think time between them.
    latency.record('login (USER+PASS)', userMs + lastMs);
    await command('STAT', 'STAT', new RegExp(`^\\+OK ${MESSAGES_PER_USER} \\d+$`));
    const list = await command('LIST', 'LIST', /^\+OK/, true);
    if (list!.toString('latin1').split('\r\n').filter(Boolean).length !== MESSAGES_PER_USER) throw new Error(`${user.name} LIST: ${list}`);
    await command('UIDL', 'UIDL', /^\+OK/, true);
    const n = (pick % MESSAGES_PER_USER) + 1;
    const body = await command('RETR', `RETR ${n}`, /^\+OK/, true);
    if (storedSha256(body!) !== messages[n - 1]!.sha256) throw new Error(`${user.name} RETR ${n}: content differs`);
    await command('NOOP', 'NOOP', /^\+OK$/);
    await command('QUIT', 'QUIT', /^\+OK Logging out, 0 messages deleted$/);
    step = 'close after QUIT';
    await client.closed(REPLY_TIMEOUT_MS);
    latency.record('session', performance.now() - sessionStart);
    counters.sessions++;
  } catch (error) {
    throw new Error(`${user.name} at ${step}: ${(error as Error).message}`);
  } finally {
    release();
    client.destroy();
    counters.open--;
  }
}

interface LoadResult {
  readonly errors: string[];
  readonly sessions: number;
  readonly attempts: number;
  readonly peakOpen: number;
  readonly quits: number;
}

/** Runs SESSIONS slots for DURATION_MS with `thinkMs` between commands; prints and writes the figures to `resultFile`. */
async function runLoad(thinkMs: number, resultFile: string | undefined): Promise<LoadResult> {
  const latency = new LatencyRecorder();
  const counters: Counters = { sessions: 0, commands: 0, open: 0, peakOpen: 0, errors: [] };
  const rssBefore = rssBytes(node.pid);
  const cpuBefore = processCpuSeconds(node.pid) ?? 0;
  const watch = watchRss(node.pid, 200);
  const overflowsBefore = listenOverflows();
  const clientLoop = monitorEventLoopDelay({ resolution: 20 });
  clientLoop.enable();
  const started = Date.now();
  const endAt = started + RAMP_MS + DURATION_MS;
  let attempts = 0;

  await Promise.all(
    Array.from({ length: SESSIONS }, async (_, slot) => {
      await sleep((slot / SESSIONS) * RAMP_MS);
      const user = users[slot % USERS]!;
      for (let round = 0; Date.now() < endAt; round++) {
        attempts++;
        try {
          await oneSession(user, latency, counters, slot + round, thinkMs);
        } catch (error) {
          counters.errors.push(`slot ${slot} round ${round}: ${(error as Error).message}`);
          await sleep(100);
        }
      }
    }),
  );
  const elapsedS = (Date.now() - started) / 1000;
  clientLoop.disable();
  const overflows = listenOverflows() - overflowsBefore;
  const peak = watch.stop();
  const rssAfter = rssBytes(node.pid);
  const cpuSeconds = (processCpuSeconds(node.pid) ?? 0) - cpuBefore;
  const summary = latency.summary();
  const toMiB = (bytes: number) => Math.round((bytes / 1048576) * 10) / 10;
  const ms = (ns: number) => Math.round(ns / 1e4) / 100;

  const result = {
    date: new Date().toISOString(),
    mode: LONG ? 'long' : 'ci',
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, node: process.version },
    concurrentSlots: SESSIONS,
    mailboxes: USERS,
    messagesPerMailbox: MESSAGES_PER_USER,
    messageBytes: MESSAGE_SIZE,
    meanThinkMsBeforeEachCommand: thinkMs,
    durationSeconds: Math.round(elapsedS * 10) / 10,
    rampSeconds: RAMP_MS / 1000,
    sessionsCompleted: counters.sessions,
    sessionAttempts: attempts,
    commandsAnswered: counters.commands,
    peakConcurrentConnections: counters.peakOpen,
    throughput: {
      sessionsPerSecond: Math.round((counters.sessions / elapsedS) * 10) / 10,
      commandsPerSecond: Math.round(counters.commands / elapsedS),
    },
    /** Send to last byte of the reply, think time excluded; `session` is connect to close, think time included. */
    latencyMs: summary,
    server: {
      rssBeforeMiB: toMiB(rssBefore),
      rssPeakMiB: toMiB(peak),
      rssAfterMiB: toMiB(rssAfter),
      cpuSeconds: Math.round(cpuSeconds * 10) / 10,
      cpuMsPerSession: counters.sessions > 0 ? Math.round((cpuSeconds / counters.sessions) * 1e5) / 100 : 0,
    },
    /** Machine-wide TcpExt ListenOverflows during the run: connections the kernel could not queue for accept. */
    listenOverflows: overflows,
    /** Event-loop delay of the load client itself: high values mean the client, not the server, was the bottleneck. */
    clientEventLoopDelayMs: { p50: ms(clientLoop.percentile(50)), p99: ms(clientLoop.percentile(99)), max: ms(clientLoop.max) },
    errors: counters.errors.length,
    firstErrors: counters.errors.slice(0, 10),
  };
  if (resultFile) await writeFile(resultFile, `${JSON.stringify(result, null, 2)}\n`);
  console.log(
    `load (${result.mode}, think ${thinkMs} ms): ${SESSIONS} slots over ${USERS} mailboxes, ${result.durationSeconds} s, ` +
      `${counters.sessions} sessions (${result.throughput.sessionsPerSecond}/s), ${counters.commands} commands ` +
      `(${result.throughput.commandsPerSecond}/s), peak ${counters.peakOpen} concurrent connections, ` +
      `server RSS ${mib(rssBefore)} -> peak ${mib(peak)} -> ${mib(rssAfter)}, server CPU ${result.server.cpuSeconds} s, ` +
      `listen overflows ${overflows}, client loop delay p99 ${result.clientEventLoopDelayMs.p99} ms, ${counters.errors.length} errors\n` +
      `${formatTable(summary)}${resultFile ? `\n(written to ${resultFile})` : ''}`,
  );
  return { errors: counters.errors, sessions: counters.sessions, attempts, peakOpen: counters.peakOpen, quits: latency.count('QUIT') };
}

async function expectCleanRun(run: LoadResult): Promise<void> {
  expect(run.errors.slice(0, 10)).toEqual([]);
  expect(run.sessions).toBe(run.attempts);
  // Every slot finished at least one session, and they really ran side by side.
  expect(run.sessions).toBeGreaterThanOrEqual(SESSIONS);
  expect(run.peakOpen).toBeGreaterThanOrEqual(Math.floor(SESSIONS * 0.9));
  expect(run.quits).toBe(run.sessions);
  expect(isAlive(node.pid)).toBe(true);
  expect(errorLogLines(node).filter((line) => !line.includes('"level":40'))).toEqual([]);
  await expectServesNormally(node, users[0]!.name, users[0]!.password);
}

const RUN_TIMEOUT_MS = DURATION_MS + RAMP_MS + 2 * REPLY_TIMEOUT_MS + 30_000;

describe('load: concurrent POP3 sessions', () => {
  it(
    `${SESSIONS} concurrent sessions over ${USERS} mailboxes for ${DURATION_MS / 1000} s: no errors, every session ends with +OK QUIT`,
    { timeout: RUN_TIMEOUT_MS },
    async () => {
      await expectCleanRun(await runLoad(THINK_MS, RESULT_FILE));
    },
  );

  it(`saturating: ${SESSIONS} slots without think time: no errors`, { timeout: RUN_TIMEOUT_MS }, async () => {
    await expectCleanRun(await runLoad(0, undefined));
  });
});
