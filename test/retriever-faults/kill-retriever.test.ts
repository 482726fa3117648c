/**
 * Fault injection against a REAL Dovecot: `node apps/mailnode fetch --once` is SIGKILLed again
 * and again at random moments while it downloads 1 000 messages, then run to completion.
 * Whatever the kill interrupted (startup, login, listing, RETR, staging, the ledger's pending
 * record, the publish links, the ledger's delivered record, DELE, QUIT), the end state must be:
 * every generated message in alice's Maildir exactly once (Message-ID and body sha256), nothing
 * extra, nothing partial, and — with preserve N — Dovecot's mailbox empty; with preserve Y all
 * 1 000 still on Dovecot and nothing fetched twice.
 *
 * Kill timing (seeded PRNG; the seed is printed, rerun with MAILNODE_KILL_SEED=<seed>):
 *  - 20 %: a delay uniform in 50–1200 ms counted from spawn. Starting `node apps/mailnode` takes
 *    about a second, so these land in startup, connect, greeting and login;
 *  - 50 %: a delay uniform in 50–1200 ms counted from the moment Dovecot logs the retriever's
 *    login: anywhere in the session (listing, settling, RETR, staging, publishing, DELE, QUIT);
 *  - 30 %: aimed at the narrow windows that matter most: 0–3 ms after the ledger gained its 1st
 *    or 2nd new "pending" record (publish under way), or 0–10 ms after a new "delivered" record
 *    (DELE about to go).
 * While the kills go on, the retriever reaches Dovecot through a loopback relay limited to
 * 300 KB/s, so that the 4 MB download spans many runs (unthrottled it takes under a second);
 * the final run, never killed, connects directly. Where each kill landed is inferred from
 * Dovecot's log (login, and its logout line's RETR count), the retriever's transcript (the
 * commands it sent) and the ledger, and printed.
 */
import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dovecotUnavailableReason, startDovecot, type DovecotInstance } from '../harness/dovecot.ts';
import { fixed4k, manifest, Rng, verifyMaildir, type ManifestEntry } from '../harness/mail-generator.ts';
import { describeFetch, fetchOnce, filesIn, killAllFetches, partialFiles, writeFetchConfig, type FetchConfig, type FetchRun, type FetchSetup, type KillControl } from './fetch-process.ts';
import { startRelay, type Relay } from '../harness/relay.ts';

const unavailable = dovecotUnavailableReason();
const COUNT = 1000;
const SEED = Number(process.env.MAILNODE_KILL_SEED ?? Math.floor(Math.random() * 1_000_000));
const LIMITS = { batch_messages: 10 };
/** Slow enough that 1 000 messages take well over 200 interrupted runs to drain. */
const LINK_BYTES_PER_SECOND = 100_000;
/** Restarts per run of the suite: 200 in all by default (MAILNODE_LONG=1: 1 000). */
const LONG = process.env.MAILNODE_LONG === '1';
const KILLS_PRESERVE_N = Number(process.env.MAILNODE_KILLS ?? (LONG ? 850 : 170));
const KILLS_PRESERVE_Y = LONG ? 150 : 30;

let dovecot: DovecotInstance | undefined;
let link: Relay | undefined;
const dirs: string[] = [];
const expected = new Map<string, ManifestEntry[]>();

beforeAll(async () => {
  if (unavailable) return;
  dovecot = await startDovecot({
    users: [
      { name: 'alice', password: 'pw-alice' },
      { name: 'bob', password: 'pw-bob' },
    ],
  });
  const forAlice = fixed4k(COUNT, 1);
  const forBob = fixed4k(COUNT, 2);
  await dovecot.fill('alice', forAlice);
  await dovecot.fill('bob', forBob);
  expected.set('alice', manifest(forAlice));
  expected.set('bob', manifest(forBob));
  link = await startRelay({ host: '127.0.0.1', port: dovecot.plainPort }, { bytesPerSecond: LINK_BYTES_PER_SECOND });
}, 60_000);

afterAll(async () => {
  killAllFetches();
  await link?.close();
  await dovecot?.stop();
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** Reads what a log file gained since the last call. */
class LogTail {
  private offset: number;
  constructor(private readonly file: string) {
    this.offset = this.size();
  }
  private size(): number {
    try {
      return statSync(this.file).size;
    } catch {
      return 0;
    }
  }
  read(): string {
    const end = this.size();
    if (end <= this.offset) return '';
    const fd = openSync(this.file, 'r');
    try {
      const buffer = Buffer.alloc(end - this.offset);
      const n = readSync(fd, buffer, 0, buffer.length, this.offset);
      this.offset += n;
      return buffer.subarray(0, n).toString('utf8');
    } finally {
      closeSync(fd);
    }
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Messages left in a Dovecot Maildir (new/ and cur/). */
function remoteCount(user: string): number {
  const dir = dovecot!.maildirOf(user);
  return ['new', 'cur'].reduce((sum, sub) => sum + readdirSync(join(dir, sub)).filter((name) => !name.startsWith('.')).length, 0);
}

interface LedgerState {
  readonly delivered: number;
  /** Pending entries not (yet) followed by a delivered one. */
  readonly pending: number;
}

function ledgerState(file: string): LedgerState {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return { delivered: 0, pending: 0 };
  }
  const delivered = new Set<string>();
  const pending = new Set<string>();
  for (const line of text.split('\n')) {
    try {
      const entry = JSON.parse(line) as { d?: string; p?: string };
      if (entry.d !== undefined) {
        delivered.add(entry.d);
        pending.delete(entry.d);
      } else if (entry.p !== undefined && !delivered.has(entry.p)) pending.add(entry.p);
    } catch {
      // torn or empty line
    }
  }
  return { delivered: delivered.size, pending: pending.size };
}

type Anchor = 'spawn' | 'login' | 'pending' | 'delivered';

interface Landing {
  readonly run: number;
  readonly anchor: Anchor;
  readonly delayMs: number;
  readonly where: string;
  readonly detail: string;
}

interface KillLoopResult {
  readonly kills: number;
  readonly landings: Landing[];
  readonly runs: FetchRun[];
  readonly completedEarly: boolean;
}

/** Ledger records of one kind ('p' or 'd') in the file now. */
function ledgerRecords(file: string, kind: 'p' | 'd'): number {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return 0;
  }
  const prefix = `{"${kind}":`;
  let n = 0;
  for (const line of text.split('\n')) if (line.startsWith(prefix)) n++;
  return n;
}

/** Polls (bounded) until `ready` holds or the child is gone; true when it held. */
async function until(control: KillControl, ready: () => boolean, timeoutMs = 15_000, everyMs = 5): Promise<boolean> {
  let gone = false;
  void control.exited.then(() => (gone = true));
  const deadline = Date.now() + timeoutMs;
  while (!gone && Date.now() < deadline) {
    if (ready()) return true;
    await sleep(everyMs);
  }
  return false;
}

function killAfter(control: KillControl, ms: number): void {
  const timer = setTimeout(() => control.kill(), ms);
  void control.exited.then(() => clearTimeout(timer));
}

/**
 * Runs fetch --once again and again, each killed at a random moment, until `maxKills` kills,
 * `budgetMs`, or a run that finishes by itself.
 */
async function killLoop(user: string, setup: FetchSetup, rng: Rng, maxKills: number, budgetMs: number): Promise<KillLoopResult> {
  const log = new LogTail(dovecot!.logFile);
  const transcript = new LogTail(join(setup.dir, 'transcript.log'));
  const landings: Landing[] = [];
  const runs: FetchRun[] = [];
  const started = Date.now();
  let kills = 0;
  let completedEarly = false;
  const login = new RegExp(`Login: user=<${user}>`);
  const logout = new RegExp(`pop3\\(${user}\\).*Disconnected: ([^\\n]*?) top=\\d+/\\d+, retr=(\\d+)/\\d+, del=(\\d+)/\\d+`);
  for (let round = 1; kills < maxKills && Date.now() - started < budgetMs && round <= maxKills * 3; round++) {
    const pick = rng.float();
    const anchor: Anchor = pick < 0.2 ? 'spawn' : pick < 0.7 ? 'login' : rng.float() < 0.6 ? 'pending' : 'delivered';
    const delayMs = anchor === 'spawn' || anchor === 'login' ? rng.int(50, 1200) : anchor === 'pending' ? rng.int(0, 3) : rng.int(0, 10);
    const nth = rng.int(1, 2);
    const before = ledgerState(setup.ledgerFile);
    const storedBefore = filesIn(setup.maildir, 'new').length + filesIn(setup.maildir, 'cur').length;
    // Whatever Dovecot logged before this run belongs to earlier runs.
    log.read();
    transcript.read();
    let text = '';
    const run = await fetchOnce(setup, {
      deadlineMs: 30_000,
      killer: (control) => {
        if (anchor === 'spawn') return killAfter(control, delayMs);
        void (async () => {
          const loggedIn = await until(control, () => {
            text += log.read();
            return login.test(text);
          });
          if (!loggedIn) return;
          if (anchor === 'login') return killAfter(control, delayMs);
          const kind = anchor === 'pending' ? 'p' : 'd';
          let baseline = ledgerRecords(setup.ledgerFile, kind);
          const grew = await until(
            control,
            () => {
              const now = ledgerRecords(setup.ledgerFile, kind);
              if (now < baseline) baseline = now; // compacted
              return now - baseline >= nth;
            },
            15_000,
            1,
          );
          if (grew) killAfter(control, delayMs);
        })();
      },
    });
    runs.push(run);
    // Dovecot logs the session's end a moment after the client is gone.
    for (let i = 0; i < 200; i++) {
      text += log.read();
      if (!login.test(text) || logout.test(text)) break;
      await sleep(10);
    }
    if (!run.killed) {
      if (run.code !== 0) throw new Error(`an unkilled run failed:\n${describeFetch(run)}`);
      completedEarly = true;
      break;
    }
    kills++;
    const after = ledgerState(setup.ledgerFile);
    const storedAfter = filesIn(setup.maildir, 'new').length + filesIn(setup.maildir, 'cur').length;
    const out = logout.exec(text);
    const retr = out ? Number(out[2]) : 0;
    // What the client sent (the transcript is written asynchronously: its last lines may be lost).
    const sent = transcript
      .read()
      .split('\n')
      .flatMap((line) => {
        const match = / C: (.*)$/.exec(line);
        return match ? [match[1]!] : [];
      });
    const retrSent = sent.filter((c) => c.startsWith('RETR ')).length;
    const deleSent = sent.filter((c) => c.startsWith('DELE ')).length;
    const last = sent.at(-1) ?? '-';
    let where: string;
    if (!login.test(text)) where = 'before login (startup, connect, greeting, auth)';
    else if (after.pending > 0 && retrSent > 0) where = 'between ledger pending and delivered (publishing)';
    else if (last === 'QUIT' || (out && /Logged out/.test(out[1]!))) where = 'after QUIT was sent';
    else if (retrSent === 0 && deleSent > 0) where = 'deleting messages delivered by earlier runs';
    else if (retrSent === 0) where = 'after login, before any RETR (CAPA/LIST/UIDL/settle)';
    else if (last.startsWith('DELE ')) where = 'deleting a delivered batch';
    else if (after.delivered > before.delivered) where = 'retrieving/staging, after batches of this run were delivered';
    else where = 'retrieving/staging the first batch of the run';
    landings.push({
      run: round,
      anchor,
      delayMs,
      where,
      detail: `sent RETR×${retrSent} DELE×${deleSent} last '${last}', server counted retr=${retr}; stored ${storedBefore}→${storedAfter} ledger delivered ${before.delivered}→${after.delivered} pending ${after.pending} tmp ${filesIn(setup.maildir, 'tmp').length}`,
    });
  }
  return { kills, landings, runs, completedEarly };
}

function report(title: string, result: KillLoopResult): void {
  const lines = [`${title}: seed ${SEED} (rerun with MAILNODE_KILL_SEED=${SEED}), ${result.kills} kills${result.completedEarly ? ', then a run finished by itself' : ''}`];
  for (const landing of result.landings) {
    const when = landing.anchor === 'spawn' || landing.anchor === 'login' ? `${landing.delayMs} ms after ${landing.anchor}` : `${landing.delayMs} ms after new ${landing.anchor} record`;
    lines.push(`  kill ${String(landing.run).padStart(2)}: ${when.padEnd(32)} → ${landing.where}; ${landing.detail}`);
  }
  const counts = new Map<string, number>();
  for (const landing of result.landings) counts.set(landing.where, (counts.get(landing.where) ?? 0) + 1);
  lines.push(`  summary: ${[...counts].map(([where, n]) => `${n}× ${where}`).join('; ')}`);
  console.log(lines.join('\n'));
}

async function expectExactlyOnce(setup: FetchSetup, user: string): Promise<void> {
  const result = await verifyMaildir(setup.maildir, expected.get(user)!);
  expect({ missing: result.missing.length, extra: result.extra, mismatched: result.mismatched }).toEqual({ missing: 0, extra: [], mismatched: [] });
  expect(result.found).toBe(COUNT);
  expect(result.ok).toBe(true);
  expect(partialFiles(setup.maildir)).toEqual([]);
}

describe.skipIf(unavailable)('SIGKILL the retriever while it downloads from Dovecot', () => {
  it(`preserve N: 1000 messages, up to ${KILLS_PRESERVE_N} kills — every message exactly once here, none left there`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mailnode-kill-'));
    dirs.push(dir);
    const config: FetchConfig = { address: `127.0.0.1:${link!.port}`, username: 'alice', password: 'pw-alice', preserve: false, timeout: '10s', limits: LIMITS, transcript: true };
    const setup = await writeFetchConfig(dir, config);
    const rng = new Rng(SEED);
    const result = await killLoop('alice', setup, rng, KILLS_PRESERVE_N, KILLS_PRESERVE_N * 1500);
    report('preserve N', result);
    expect(result.kills).toBeGreaterThan(0);

    // The last run, never killed, directly (same state dir).
    await writeFetchConfig(dir, { ...config, address: `127.0.0.1:${dovecot!.plainPort}` });
    const final = await fetchOnce(setup, { deadlineMs: 60_000 });
    expect(final.code, describeFetch(final)).toBe(0);
    await expectExactlyOnce(setup, 'alice');
    expect(remoteCount('alice')).toBe(0);
    // A further run finds nothing to do and changes nothing.
    const idle = await fetchOnce(setup, { deadlineMs: 30_000 });
    expect(idle.code, describeFetch(idle)).toBe(0);
    expect(idle.stdout).toMatch(/ok, 0 messages/);
    await expectExactlyOnce(setup, 'alice');
  }, KILLS_PRESERVE_N * 1500 + 120_000);

  it(`preserve Y: 1000 messages, up to ${KILLS_PRESERVE_Y} kills — every message exactly once here, all still there`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mailnode-kill-y-'));
    dirs.push(dir);
    const config: FetchConfig = { address: `127.0.0.1:${link!.port}`, username: 'bob', password: 'pw-bob', preserve: true, timeout: '10s', limits: LIMITS, transcript: true };
    const setup = await writeFetchConfig(dir, config);
    const rng = new Rng(SEED ^ 0x5a5a5a);
    const result = await killLoop('bob', setup, rng, KILLS_PRESERVE_Y, KILLS_PRESERVE_Y * 1500);
    report('preserve Y', result);
    expect(result.kills).toBeGreaterThan(0);

    await writeFetchConfig(dir, { ...config, address: `127.0.0.1:${dovecot!.plainPort}` });
    const final = await fetchOnce(setup, { deadlineMs: 60_000 });
    expect(final.code, describeFetch(final)).toBe(0);
    await expectExactlyOnce(setup, 'bob');
    expect(remoteCount('bob')).toBe(COUNT);
    const again = await fetchOnce(setup, { deadlineMs: 30_000 });
    expect(again.code, describeFetch(again)).toBe(0);
    expect(again.stdout).toMatch(/ok, 0 messages, 0\.00 MB, 0 deleted/);
    await expectExactlyOnce(setup, 'bob');
    expect(remoteCount('bob')).toBe(COUNT);
  }, KILLS_PRESERVE_Y * 1500 + 120_000);
});
