/**
 * The retriever's schedule in a running node (startMailnode, delay_start 0s), counted through
 * the transcript (one `connecting to` note per session): freq 0 means exactly one run; runs 3
 * with freq 0 means three runs in immediate succession; freq 1s paces the runs; a client that
 * cannot connect does not stop another. `fetch --once [ids]` runs only the named clients and
 * exits 1 when any of them failed.
 */
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dovecotUnavailableReason, type DovecotInstance } from '../harness/dovecot.ts';
import { killAllTools } from '../harness/external-tool.ts';
import { freePort } from '../harness/free-port.ts';
import { fixed4k, type GeneratedMessage } from '../harness/mail-generator.ts';
import { makeTempDir, startMailnode, stopAllMailnodes, waitFor, type MailnodeProcess } from '../harness/mailnode-process.ts';
import {
  copyProblems,
  delay,
  dovecotClient,
  explain,
  fetchConfig,
  localMaildir,
  maildirFiles,
  readFileText,
  readTranscript,
  retrieverEnv,
  runFetch,
  sentBy,
  sessionsOf,
  type TranscriptLine,
  startFilledDovecot,
} from './helpers.ts';

const unavailable = dovecotUnavailableReason();

const REMOTE: Record<string, () => GeneratedMessage[]> = {
  once: () => fixed4k(5, 600),
  thrice: () => fixed4k(5, 601),
  paced: () => fixed4k(3, 602),
  good: () => fixed4k(6, 603),
  'cli-good': () => fixed4k(4, 604),
};

let dovecot: DovecotInstance;
let mail = new Map<string, GeneratedMessage[]>();

beforeAll(async () => {
  if (unavailable) return;
  ({ dovecot, mail } = await startFilledDovecot(REMOTE));
});

afterEach(async () => {
  killAllTools();
  await stopAllMailnodes();
});
afterAll(async () => {
  killAllTools();
  await stopAllMailnodes();
  await dovecot?.stop();
});

/** A running node whose retriever has `clients`; transcript and audit in a temp dir. */
async function scheduledNode(clients: Record<string, unknown>[]): Promise<{ node: MailnodeProcess; transcript: string; audit: string }> {
  const logs = await makeTempDir('mailnode-schedule-');
  const transcript = join(logs, 'retriever.transcript');
  const audit = join(logs, 'retriever.audit');
  const node = await startMailnode({ config: { pop3download: { transcript, audit, delay_start: '0s', timeout: '10s', clients } } });
  return { node, transcript, audit };
}

/** A session is over once the client's QUIT was answered, or it ended without reaching QUIT (failure). */
const quitAnswered = (session: readonly TranscriptLine[]) => {
  const quit = session.findIndex((line) => line.dir === 'C:' && line.text === 'QUIT');
  return quit >= 0 && session.slice(quit + 1).some((line) => line.dir === 'S:');
};

async function completedSessions(transcript: string, id: string): Promise<TranscriptLine[][]> {
  return (sessionsOf(await readTranscript(transcript), id)).filter(quitAnswered);
}

const describeNode = async (node: MailnodeProcess, transcript: string) =>
  `stderr:\n${node.stderr().slice(-3000)}\ntranscript:\n${(await readFileText(transcript)).split('\n').slice(-25).join('\n')}`;

describe.skipIf(unavailable)('retriever schedule in a running node', () => {
  it('freq 0: exactly one run', async () => {
    const { node, transcript, audit } = await scheduledNode([dovecotClient(dovecot, 'once', 'once', { preserve: 'Y' })]);
    const maildir = join(node.mailRoot, 'alice', 'Maildir');
    await waitFor('the first run', async () => (await completedSessions(transcript, 'once')).length >= 1, 20_000, 50);
    // Mail that arrives after the run is not fetched: there is no second run.
    await dovecot.fill('once', fixed4k(2, 650));
    await delay(2000);
    const why = await describeNode(node, transcript);
    expect(sessionsOf(await readTranscript(transcript), 'once'), why).toHaveLength(1);
    expect(copyProblems(await maildirFiles(maildir), mail.get('once')!, { received: 'required' }), why).toEqual([]);
    expect((await readFileText(audit)).split('\n').filter(Boolean), why).toHaveLength(5);
  });

  it('runs 3 with freq 0: three runs in immediate succession, each message delivered once', async () => {
    const { node, transcript } = await scheduledNode([dovecotClient(dovecot, 'thrice', 'thrice', { preserve: 'Y', runs: 3 })]);
    await waitFor('three runs', async () => (await completedSessions(transcript, 'thrice')).length >= 3, 20_000, 50).catch(async (error: Error) => {
      throw new Error(`${error.message}\n${await describeNode(node, transcript)}`);
    });
    await delay(1500);
    const why = await describeNode(node, transcript);
    const sessions = sessionsOf(await readTranscript(transcript), 'thrice');
    expect(sessions, why).toHaveLength(3);
    for (let i = 1; i < sessions.length; i++) {
      const gap = sessions[i]![0]!.at - sessions[i - 1]!.at(-1)!.at;
      expect(gap, `gap before run ${i + 1}\n${why}`).toBeLessThan(1000);
    }
    // The first run fetched everything, the others nothing (RETR only in the first session).
    expect(sessions.map((session) => sentBy(session).filter((line) => line.startsWith('RETR')).length), why).toEqual([5, 0, 0]);
    expect(copyProblems(await maildirFiles(join(node.mailRoot, 'alice', 'Maildir')), mail.get('thrice')!, { received: 'required' }), why).toEqual([]);
  });

  it('freq 1s with runs 2: the second run starts about freq after the first ended, then no more', async () => {
    const { node, transcript } = await scheduledNode([dovecotClient(dovecot, 'paced', 'paced', { preserve: 'Y', runs: 2, freq: '1s' })]);
    await waitFor('two runs', async () => (await completedSessions(transcript, 'paced')).length >= 2, 20_000, 50).catch(async (error: Error) => {
      throw new Error(`${error.message}\n${await describeNode(node, transcript)}`);
    });
    await delay(2000);
    const why = await describeNode(node, transcript);
    const sessions = sessionsOf(await readTranscript(transcript), 'paced');
    expect(sessions, why).toHaveLength(2);
    const gap = sessions[1]![0]!.at - sessions[0]!.at(-1)!.at;
    expect(gap, why).toBeGreaterThanOrEqual(900);
    expect(gap, why).toBeLessThan(5000);
  });

  it('a client that cannot connect does not stop another good client; the node stays up', async () => {
    const deadPort = await freePort();
    const broken = dovecotClient(dovecot, 'broken', 'good', { recip: 'bob', runs: 2, server: { address: `127.0.0.1:${deadPort}` } });
    const { node, transcript } = await scheduledNode([broken, dovecotClient(dovecot, 'good', 'good')]);
    let exited = false;
    void node.exited.then(() => (exited = true));
    const maildir = join(node.mailRoot, 'alice', 'Maildir');
    await waitFor('the good client to deliver', async () => (await maildirFiles(maildir)).length === 6, 20_000, 50).catch(async (error: Error) => {
      throw new Error(`${error.message}\n${await describeNode(node, transcript)}`);
    });
    await waitFor('the broken client to fail', () => /"client":"broken".*"stage":"connect".*retrieval failed/.test(node.stderr()), 10_000, 50).catch(async (error: Error) => {
      throw new Error(`${error.message}\n${await describeNode(node, transcript)}`);
    });
    const why = await describeNode(node, transcript);
    expect(copyProblems(await maildirFiles(maildir), mail.get('good')!, { received: 'required' }), why).toEqual([]);
    expect(await maildirFiles(join(node.mailRoot, 'bob', 'Maildir')), why).toEqual([]);
    expect(sessionsOf(await readTranscript(transcript), 'broken').length, why).toBeGreaterThanOrEqual(1);
    expect(exited, why).toBe(false);
  });
});

describe.skipIf(unavailable)('fetch --once with several clients', () => {
  it('runs every client and exits 1 when one failed; with ids, only the named ones (exit 0)', async () => {
    const env = await retrieverEnv();
    const deadPort = await freePort();
    const good = dovecotClient(dovecot, 'good2', 'cli-good', { preserve: 'Y' });
    const broken = dovecotClient(dovecot, 'broken2', 'cli-good', { recip: 'bob', server: { address: `127.0.0.1:${deadPort}` } });
    const config = fetchConfig(env, [broken, good]);

    const all = await runFetch(env, config);
    const why = await explain(all, env, dovecot);
    expect(all.code, why).toBe(1);
    expect(all.stdout, why).toMatch(/^good2: ok, 4 messages/m);
    expect(all.stdout, why).toMatch(/^broken2: FAILED at connect: cannot connect to 127\.0\.0\.1:\d+: .*ECONNREFUSED/m);
    expect(copyProblems(await maildirFiles(localMaildir(env, 'alice')), mail.get('cli-good')!, { received: 'required' }), why).toEqual([]);

    const before = sessionsOf(await readTranscript(env.transcript), 'broken2').length;
    const named = await runFetch(env, config, ['good2']);
    const why2 = await explain(named, env, dovecot);
    expect(named.code, why2).toBe(0);
    expect(named.stdout, why2).toMatch(/^good2: ok, 0 messages/m);
    expect(named.stdout, why2).not.toMatch(/broken2/);
    expect(sessionsOf(await readTranscript(env.transcript), 'broken2'), why2).toHaveLength(before);
    expect(sessionsOf(await readTranscript(env.transcript), 'good2'), why2).toHaveLength(2);
  });
});
