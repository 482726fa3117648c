/**
 * Fuzz: a bounded run of random and mutated POP3 command streams against a real
 * `node apps/mailnode`, some sessions logged in first. Every session must get a reply or a clean
 * close in bounded time, the process must stay up without logging errors, RSS must stay bounded,
 * and a normal session must work afterwards. FUZZ_SEED=n replays a run; FUZZ_SESSIONS=n resizes it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../harness/mail-generator.ts';
import { startMailnode, stopAllMailnodes, type MailnodeProcess } from '../harness/mailnode-process.ts';
import { isAlive } from '../harness/proc-stats.ts';
import { makeFuzzCase, splitPayload, validTranscript, type FuzzCase } from './fuzz-inputs.ts';
import { fillMailboxes, makeUsers, usersFile, type TestUser } from './mailboxes.ts';
import { errorLogLines, expectServesNormally } from './node-health.ts';
import { destroyAllSockets, loginUserPass, Pop3Socket, sleep } from './pop3-socket.ts';
import { mib, MiB, rssBytes, watchRss } from './server-memory.ts';

const SESSIONS = Number(process.env.FUZZ_SESSIONS ?? 300);
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
const CONCURRENCY = 8;
const LINE_LENGTH = 512;
/** A session must answer (or close) within this after its payload, and close within it after our FIN. */
const REPLY_BOUND_MS = 8000;
/** RSS after the run may exceed the RSS before it by at most this. */
const RSS_GROWTH_BOUND = 80 * MiB;

const users = makeUsers(CONCURRENCY, 'fz');
let node: MailnodeProcess;

interface Outcome {
  kind: string;
  loggedIn: boolean;
  loginRefused: boolean;
  answered: boolean;
  closedByServer: boolean;
  problem?: string;
}

beforeAll(async () => {
  node = await startMailnode({
    users: `${usersFile(users)}spare:pw-spare\n`,
    config: { logging: { level: 'warn' }, pop3server: { timeout: '3s' } },
  });
  await fillMailboxes(node.mailRoot, [...users, { name: 'spare', password: 'pw-spare' }], 20, 3000);
});

afterAll(async () => {
  destroyAllSockets();
  await stopAllMailnodes();
});

async function runSession(worker: TestUser, fuzz: FuzzCase, rng: Rng): Promise<Outcome> {
  const outcome: Outcome = { kind: fuzz.kind, loggedIn: fuzz.loggedIn, loginRefused: false, answered: false, closedByServer: false };
  const client = await Pop3Socket.connect(node.ports.pop3);
  try {
    if (fuzz.loggedIn) {
      const reply = await loginUserPass(client, worker.name, worker.password);
      outcome.loginRefused = !reply.startsWith('+OK');
    } else {
      await client.line();
    }
    for (const part of splitPayload(rng, fuzz.payload, fuzz.pieces)) {
      if (!client.write(part)) await sleep(1);
    }
    // However the payload ended, a line of its own must follow.
    client.write('\r\nQUIT\r\n');
    outcome.answered = await client.anyReplyOrClose(REPLY_BOUND_MS);
    if (!outcome.answered) {
      outcome.problem = `no reply and no close within ${REPLY_BOUND_MS} ms`;
      return outcome;
    }
    // Read whatever comes; QUIT (or a limit) should close the session. If not, send FIN.
    try {
      await client.closed(2000);
    } catch {
      client.end();
      try {
        await client.closed(REPLY_BOUND_MS);
      } catch {
        outcome.problem = `still open ${REPLY_BOUND_MS} ms after our FIN`;
        return outcome;
      }
    }
    outcome.closedByServer = true;
    return outcome;
  } finally {
    client.destroy();
  }
}

describe('fuzz: mutated and random POP3 command streams', () => {
  it(`${SESSIONS} sessions: each answered or closed in bounded time; the node stays up and bounded`, { timeout: 60_000 }, async () => {
    const rng = new Rng(SEED);
    const transcript = validTranscript('USERNAME', 'PASSWORD', 20);
    const cases = Array.from({ length: SESSIONS }, () => makeFuzzCase(rng, transcript, LINE_LENGTH));
    const rssBefore = rssBytes(node.pid);
    const watch = watchRss(node.pid, 100);
    const started = Date.now();
    const outcomes: Outcome[] = [];
    let next = 0;
    await Promise.all(
      users.map(async (worker, w) => {
        const workerRng = new Rng(SEED * 31 + w);
        while (next < cases.length) {
          const fuzz = cases[next++]!;
          // Real credentials for this worker's mailbox in place of the placeholders.
          const payload = Buffer.from(
            fuzz.payload.toString('latin1').replaceAll('USERNAME', worker.name).replaceAll('PASSWORD', worker.password),
            'latin1',
          );
          outcomes.push(await runSession(worker, { ...fuzz, payload }, workerRng));
        }
      }),
    );
    const elapsed = Date.now() - started;
    const peak = watch.stop();
    const rssAfter = rssBytes(node.pid);

    const byKind = new Map<string, number>();
    for (const o of outcomes) byKind.set(o.kind, (byKind.get(o.kind) ?? 0) + 1);
    const problems = outcomes.filter((o) => o.problem);
    const loginsTried = outcomes.filter((o) => o.loggedIn).length;
    const loginsRefused = outcomes.filter((o) => o.loginRefused).length;
    console.log(
      `fuzz seed ${SEED}: ${outcomes.length} sessions in ${elapsed} ms; kinds ${JSON.stringify(Object.fromEntries(byKind))}; ` +
        `logged in ${loginsTried - loginsRefused}/${loginsTried}; RSS before ${mib(rssBefore)}, peak ${mib(peak)}, after ${mib(rssAfter)}`,
    );

    expect(outcomes).toHaveLength(SESSIONS);
    expect(problems.map((o) => `${o.kind}: ${o.problem}`), `seed ${SEED}`).toEqual([]);
    expect(outcomes.every((o) => o.answered && o.closedByServer)).toBe(true);
    // The logged-in share is real: most logins went through (a lock still held by the previous session may refuse one).
    expect(loginsTried - loginsRefused).toBeGreaterThan(loginsTried * 0.8);
    expect(isAlive(node.pid)).toBe(true);
    expect(rssAfter - rssBefore, `RSS grew from ${mib(rssBefore)} to ${mib(rssAfter)}`).toBeLessThan(RSS_GROWTH_BOUND);
    expect(errorLogLines(node), `seed ${SEED}`).toEqual([]);
    await expectServesNormally(node, 'spare', 'pw-spare');
  });
});
