/**
 * The retriever's polling policies in a running node (startMailnode, delay_start 0s, short
 * freqs), against a real Dovecot, watched through the retriever transcript (one `connecting to`
 * note per session), Dovecot's log, `mailnode status --json`, and TCP relays of our own:
 *
 *   - delay_failed_host: when a host stops answering, every client on it pauses (not only the
 *     one that failed); delay_failed_account: a refused login pauses that client only; a good
 *     client keeps its schedule meanwhile;
 *   - processes: the cap on simultaneous connections, counted at a relay that slows each session;
 *   - the self-poll guard: a client pointing at the node's own POP3 listener is refused.
 */
import { mkdir } from 'node:fs/promises';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dovecotUnavailableReason, type DovecotInstance } from '../harness/dovecot.ts';
import { killAllTools } from '../harness/external-tool.ts';
import { freePort } from '../harness/free-port.ts';
import { fillMaildir, fixed4k, type GeneratedMessage } from '../harness/mail-generator.ts';
import { makeTempDir, startMailnode, stopAllMailnodes, waitFor, type MailnodeProcess } from '../harness/mailnode-process.ts';
import {
  copyProblems,
  delay,
  dovecotClient,
  maildirFiles,
  readFileText,
  readTranscript,
  runMailnode,
  sessionsOf,
  startFilledDovecot,
  type TranscriptLine,
} from './helpers.ts';

const unavailable = dovecotUnavailableReason();

const REMOTE: Record<string, () => GeneratedMessage[]> = {
  'pp-good': () => fixed4k(3, 700),
  'pp-bad': () => fixed4k(1, 701),
  'pp-relay1': () => [],
  'pp-relay2': () => [],
  ...Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`pp-cap${i + 1}`, () => fixed4k(1, 710 + i)])),
};

let dovecot: DovecotInstance;
let mail = new Map<string, GeneratedMessage[]>();

beforeAll(async () => {
  if (unavailable) return;
  ({ dovecot, mail } = await startFilledDovecot(REMOTE));
}, 30_000);

const relays = new Set<Relay>();
afterEach(async () => {
  killAllTools();
  await stopAllMailnodes();
  await Promise.all([...relays].map((relay) => relay.close()));
  relays.clear();
});
afterAll(async () => {
  killAllTools();
  await stopAllMailnodes();
  await dovecot?.stop();
});

// ---- a TCP relay in front of Dovecot --------------------------------------------------------

interface Relay {
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Sessions open now, and the most ever open at once. */
  readonly active: number;
  readonly maxActive: number;
  /** Stop accepting (the port is closed; sessions in progress go on). */
  stopListening(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Relays 127.0.0.1:<port> to Dovecot's plain port, holding the greeting back `greetingDelayMs`
 * (a slow server). A session counts as open from its accept until the client's QUIT passes (or
 * the connection ends): the retriever frees its slot only after the QUIT reply, which comes back
 * through here, so the next session's accept is always seen after this one stopped counting.
 */
async function startRelay(target: number, greetingDelayMs = 0): Promise<Relay> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  let active = 0;
  let maxActive = 0;
  const server: Server = createServer((client) => {
    accepted++;
    active++;
    maxActive = Math.max(maxActive, active);
    let open = true;
    const done = () => {
      if (open) active--;
      open = false;
    };
    const upstream = connect({ host: '127.0.0.1', port: target });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        sockets.delete(socket);
        done();
        client.destroy();
        upstream.destroy();
      });
    }
    const held: Buffer[] = [];
    let holding = greetingDelayMs > 0;
    if (holding) {
      setTimeout(() => {
        holding = false;
        for (const chunk of held.splice(0)) client.write(chunk);
      }, greetingDelayMs);
    }
    upstream.on('data', (chunk: Buffer) => (holding ? held.push(chunk) : client.write(chunk)));
    let line = '';
    client.on('data', (chunk: Buffer) => {
      line = (line + chunk.toString('latin1')).slice(-64);
      if (/(^|\r\n)QUIT\r\n/i.test(line)) done();
      upstream.write(chunk);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
  });
  let listening = true;
  const stopListening = () =>
    new Promise<void>((resolve) => {
      if (!listening) return resolve();
      listening = false;
      server.close(() => resolve());
      // server.close() resolves only when every connection is gone: do not wait for that here.
      setImmediate(resolve);
    });
  const relay: Relay = {
    port: (server.address() as AddressInfo).port,
    get accepted() {
      return accepted;
    },
    get active() {
      return active;
    },
    get maxActive() {
      return maxActive;
    },
    stopListening,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await stopListening();
    },
  };
  relays.add(relay);
  return relay;
}

// ---- node and observations ------------------------------------------------------------------

async function policyNode(pop3download: Record<string, unknown>, extra: Record<string, unknown> = {}, options: { stateDir?: string } = {}) {
  const logs = await makeTempDir('mailnode-policy-');
  const transcript = join(logs, 'retriever.transcript');
  const node = await startMailnode({
    stateDir: options.stateDir,
    config: { ...extra, pop3download: { transcript, delay_start: '0s', timeout: '10s', ...pop3download } },
  });
  return { node, transcript };
}

type ClientStatus = { id: string; state: string; lastError?: string; pausedUntil?: string; pauseReason?: string; totals: { runs: number } };

async function clientStatus(node: MailnodeProcess): Promise<Map<string, ClientStatus>> {
  const answer = await runMailnode(['status', '--json', '--config', node.configFile!], { timeoutMs: 15_000 });
  if (answer.code !== 0) throw new Error(`mailnode status failed: ${answer.stderr}`);
  return new Map((JSON.parse(answer.stdout) as { clients: ClientStatus[] }).clients.map((c) => [c.id, c]));
}

/** Start times of a client's sessions (its `connecting to` notes). */
async function starts(transcript: string, id: string): Promise<number[]> {
  return sessionsOf(await readTranscript(transcript), id).map((session) => session[0]!.at);
}

const quitAnswered = (session: readonly TranscriptLine[]) => {
  const quit = session.findIndex((line) => line.dir === 'C:' && line.text === 'QUIT');
  return quit >= 0 && session.slice(quit + 1).some((line) => line.dir === 'S:');
};

const gaps = (times: readonly number[]) => times.slice(1).map((t, i) => t - times[i]!);

async function describeNode(node: MailnodeProcess, transcript: string, lines = 60): Promise<string> {
  const notes = (await readFileText(transcript))
    .split('\n')
    .filter((line) => / -- |PASS|-ERR/.test(line))
    .slice(-lines)
    .join('\n');
  return `stderr:\n${node.stderr().slice(-4000)}\ntranscript notes:\n${notes}\ndovecot:\n${dovecot.logTail(20)}`;
}

// ---- tests ----------------------------------------------------------------------------------

describe.skipIf(unavailable)('polling policies in a running node', () => {
  it('a failed host pauses every client on it (delay_failed_host), a refused login only that client (delay_failed_account), a good client keeps its schedule', async () => {
    const HOST_PAUSE = 5000;
    const ACCOUNT_PAUSE = 6000;
    const relay = await startRelay(dovecot.plainPort);
    const deadPort = await freePort();
    const viaRelay = (id: string, user: string, freq: string) =>
      dovecotClient(dovecot, id, user, { recip: 'bob', freq, preserve: 'Y', server: { address: `127.0.0.1:${relay.port}` } });
    const { node, transcript } = await policyNode({
      delay_failed_host: `${HOST_PAUSE}ms`,
      delay_failed_account: `${ACCOUNT_PAUSE}ms`,
      clients: [
        dovecotClient(dovecot, 'good', 'pp-good', { freq: '1s' }),
        dovecotClient(dovecot, 'badpw', 'pp-bad', { recip: 'bob', freq: '1s', server: { password: 'wrong-password' } }),
        dovecotClient(dovecot, 'dead', 'pp-good', { recip: 'bob', freq: '1s', server: { address: `127.0.0.1:${deadPort}` } }),
        viaRelay('relay1', 'pp-relay1', '1s'),
        viaRelay('relay2', 'pp-relay2', '1300ms'),
      ],
    });
    const why = () => describeNode(node, transcript);

    // Both relay clients poll fine for a while; then the relay's port closes.
    await waitFor('two good runs of each relay client', async () => (await starts(transcript, 'relay1')).length >= 2 && (await starts(transcript, 'relay2')).length >= 2, 20_000, 50).catch(
      async (error: Error) => {
        throw new Error(`${error.message}\n${await why()}`);
      },
    );
    await relay.stopListening();
    const closedAt = Date.now();
    const relayStarts = async () => [...(await starts(transcript, 'relay1')), ...(await starts(transcript, 'relay2'))].filter((t) => t >= closedAt).sort((a, b) => a - b);
    const firstFailure = (await waitFor('a relay client to hit the closed port', async () => (await relayStarts())[0], 10_000, 20).catch(async (error: Error) => {
      throw new Error(`${error.message}\n${await why()}`);
    })) as number;

    // During the pause: both relay clients show it (the one that did not fail too), with the host as reason.
    await delay(500);
    const during = await clientStatus(node);
    const statusWhy = async () => `${JSON.stringify(Object.fromEntries(during), null, 1)}\n${await why()}`;
    for (const id of ['relay1', 'relay2']) {
      const status = during.get(id)!;
      expect(status.pauseReason, `${id}\n${await statusWhy()}`).toBe('host');
      expect(Date.parse(status.pausedUntil!), `${id}\n${await statusWhy()}`).toBeGreaterThan(firstFailure + HOST_PAUSE - 1000);
    }
    expect(during.get('dead')!.pauseReason, await statusWhy()).toBe('host');
    expect(during.get('good')!.pauseReason, await statusWhy()).toBeUndefined();
    expect(during.get('good')!.lastError, await statusWhy()).toBeUndefined();

    // Watch until the host pause has run out and the next attempts came (and failed again).
    await waitFor('relay clients to try again after the pause', async () => (await relayStarts()).some((t) => t > firstFailure + 1000), HOST_PAUSE + 6000, 100).catch(
      async (error: Error) => {
        throw new Error(`${error.message}\n${await why()}`);
      },
    );
    await waitFor('a second refused login', async () => (await starts(transcript, 'badpw')).length >= 2, ACCOUNT_PAUSE + 8000, 100).catch(async (error: Error) => {
      throw new Error(`${error.message}\n${await why()}`);
    });
    const stoppedAt = Date.now();
    const explanation = await why();

    // Host pause: after the first failure no client of that host connects until the pause is over.
    const after = await relayStarts();
    const inPause = after.filter((t) => t > firstFailure + 150 && t < firstFailure + HOST_PAUSE - 300);
    expect(inPause, `first failure at ${new Date(firstFailure).toISOString()}\n${explanation}`).toEqual([]);
    expect(after.filter((t) => t >= firstFailure + HOST_PAUSE - 300).length, explanation).toBeGreaterThanOrEqual(1);

    // The closed-port client: attempts in bursts at least delay_failed_host apart, not every second.
    const deadStarts = await starts(transcript, 'dead');
    expect(deadStarts.length, explanation).toBeGreaterThanOrEqual(2);
    for (const gap of gaps(deadStarts)) expect(gap, `dead gaps ${gaps(deadStarts)}\n${explanation}`).toBeGreaterThanOrEqual(HOST_PAUSE - 300);

    // The refused login: one attempt per delay_failed_account, none in between (transcript and Dovecot's log agree).
    const badStarts = await starts(transcript, 'badpw');
    for (const gap of gaps(badStarts)) expect(gap, `badpw gaps ${gaps(badStarts)}\n${explanation}`).toBeGreaterThanOrEqual(ACCOUNT_PAUSE - 300);
    const dovecotLog = await readFileText(dovecot.logFile);
    const failedLogins = dovecotLog.split('\n').filter((line) => line.includes('user=<pp-bad>') && /auth failed/i.test(line));
    expect(failedLogins.length, `${failedLogins.join('\n')}\n${explanation}`).toBeLessThanOrEqual(badStarts.length);
    expect(failedLogins.length, `${failedLogins.join('\n')}\n${explanation}`).toBeGreaterThanOrEqual(badStarts.length - 1);

    // The good client: delivered everything and kept its schedule all along. Its sessions may
    // take a while (Dovecot's auth penalty slows every login from 127.0.0.1 after badpw's
    // failures), so the wait is measured from the end of one session to the start of the next.
    expect(copyProblems(await maildirFiles(join(node.mailRoot, 'alice', 'Maildir')), mail.get('pp-good')!, { received: 'required' }), explanation).toEqual([]);
    const goodSessions = sessionsOf(await readTranscript(transcript), 'good');
    expect(goodSessions.filter(quitAnswered).length, explanation).toBeGreaterThanOrEqual(3);
    const waits = goodSessions.slice(1).map((session, i) => session[0]!.at - goodSessions[i]!.at(-1)!.at);
    for (const wait of waits) expect(wait, `good waits ${waits}\n${explanation}`).toBeLessThan(2500);
    expect((await clientStatus(node)).get('good')!.lastError, explanation).toBeUndefined();
  }, 60_000);

  it('a client queued behind the processes cap does not connect to a host that failed while it waited', async () => {
    const deadPort = await freePort();
    const dead = (id: string) => dovecotClient(dovecot, id, 'pp-good', { recip: 'bob', freq: '1m', server: { address: `127.0.0.1:${deadPort}` } });
    const { node, transcript } = await policyNode({ processes: 1, delay_failed_host: '30s', clients: [dead('deadA'), dead('deadB')] });
    const attempts = async () => [...(await starts(transcript, 'deadA')), ...(await starts(transcript, 'deadB'))];
    await waitFor('the first connect failure', async () => /host failed: pausing every client on it/.test(node.stderr()), 15_000, 50);
    await delay(1500);
    const status = await clientStatus(node);
    const why = `${JSON.stringify(Object.fromEntries(status), null, 1)}\n${await describeNode(node, transcript)}`;
    expect((await attempts()).length, why).toBe(1);
    for (const id of ['deadA', 'deadB']) expect(status.get(id)!.pauseReason, `${id}\n${why}`).toBe('host');
  }, 60_000);

  it('processes 2: six clients on a slow server never hold more than two connections, and all six complete', async () => {
    const relay = await startRelay(dovecot.plainPort, 1000);
    const ids = Array.from({ length: 6 }, (_, i) => `cap${i + 1}`);
    const { node, transcript } = await policyNode({
      processes: 2,
      clients: ids.map((id) => dovecotClient(dovecot, id, `pp-${id}`, { server: { address: `127.0.0.1:${relay.port}` } })),
    });
    const maildir = join(node.mailRoot, 'alice', 'Maildir');
    // While the first two are in their (slow) sessions, the others show as queued.
    await waitFor('the first session', () => relay.accepted >= 1, 15_000, 10);
    const snapshot = [...(await clientStatus(node)).values()];
    const states = snapshot.map((client) => `${client.id}:${client.state}`).join(' ');
    expect(snapshot.filter((client) => client.state === 'polling').length, states).toBeLessThanOrEqual(2);
    expect(snapshot.filter((client) => client.state === 'queued').length, states).toBeGreaterThanOrEqual(1);
    const expected = ids.flatMap((id) => mail.get(`pp-${id}`)!);
    await waitFor('all six clients to deliver', async () => (await maildirFiles(maildir)).length === 6, 30_000, 50).catch(async (error: Error) => {
      throw new Error(`${error.message}\nrelay: accepted ${relay.accepted}, max ${relay.maxActive}\n${await describeNode(node, transcript)}`);
    });
    await waitFor('every session to end', () => relay.active === 0, 5000, 20);
    const why = `relay: accepted ${relay.accepted}, max active ${relay.maxActive}\n${await describeNode(node, transcript)}`;
    expect(relay.maxActive, why).toBe(2);
    expect(relay.accepted, why).toBe(6);
    expect(copyProblems(await maildirFiles(maildir), expected, { received: 'required' }), why).toEqual([]);
    const lines = await readTranscript(transcript);
    const sessions = ids.flatMap((id) => sessionsOf(lines, id)).filter(quitAnswered);
    expect(sessions, why).toHaveLength(6);
    // Three waves of two: the last session cannot start before two slow sessions ended before it.
    const begun = sessions.map((session) => session[0]!.at).sort((a, b) => a - b);
    expect(begun[5]! - begun[0]!, why).toBeGreaterThanOrEqual(2 * 1000);
    const status = await clientStatus(node);
    for (const id of ids) expect(status.get(id)!.lastError, `${id}\n${why}`).toBeUndefined();
  }, 60_000);

  it("self-poll: a client pointing at the node's own POP3 listener is refused with a clear error; the node's mailbox is untouched", async () => {
    const port = await freePort();
    const stateDir = join(await makeTempDir('mailnode-selfpoll-'), 'state');
    const own = fixed4k(2, 720);
    await mkdir(join(stateDir, 'mail', 'alice'), { recursive: true, mode: 0o700 });
    await fillMaildir(join(stateDir, 'mail', 'alice', 'Maildir'), own);
    const serverTranscript = join(stateDir, '..', 'pop3server.transcript');
    const self = (id: string, host: string) => ({ id, recip: 'bob', freq: '1s', server: { address: `${host}:${port}`, username: 'alice', password: 'pw-alice' } });
    const { node, transcript } = await policyNode(
      { clients: [self('self', '127.0.0.1'), self('self-name', 'localhost')] },
      { pop3server: { transcript: serverTranscript, listeners: [{ interface: '127.0.0.1', port, ssl: { latent: 'Y' } }] } },
      { stateDir },
    );
    expect(node.ports.pop3, node.stdout()).toBe(port);
    await waitFor('the self-poll refusals', () => (node.stderr().match(/refusing to poll: self-poll/g) ?? []).length >= 4, 15_000, 50).catch(async (error: Error) => {
      throw new Error(`${error.message}\n${await describeNode(node, transcript)}`);
    });
    const status = await clientStatus(node);
    const why = `${JSON.stringify(Object.fromEntries(status), null, 1)}\n${await describeNode(node, transcript)}`;
    for (const id of ['self', 'self-name']) {
      const client = status.get(id)!;
      expect(client.lastError, `${id}\n${why}`).toMatch(/own POP3 listener/);
      expect(client.lastError, `${id}\n${why}`).toMatch(/self.poll/i);
      expect(client.lastError, `${id}\n${why}`).toContain(`:${port}`);
      expect(client.state, `${id}\n${why}`).not.toBe('polling');
    }
    expect(node.stderr(), why).toMatch(/"client":"self".*"reason":"127\.0\.0\.1:\d+ \(127\.0\.0\.1\) is mailnode's own POP3 listener/);
    // It never connected: no retriever session, no POP3 server session; alice's mail is where it was.
    expect(await readTranscript(transcript), why).toEqual([]);
    expect(await readFileText(serverTranscript), why).toBe('');
    expect(copyProblems(await maildirFiles(join(stateDir, 'mail', 'alice', 'Maildir')), own, { received: 'absent' }), why).toEqual([]);
    expect((await maildirFiles(join(stateDir, 'mail', 'alice', 'Maildir'))).every((file) => file.path.includes('/new/')), why).toBe(true);
    expect(await maildirFiles(join(stateDir, 'mail', 'bob', 'Maildir')), why).toEqual([]);
  }, 60_000);

  it('allow_self_poll: Y lets the same client connect to its own node (the mail moves to the recipient)', async () => {
    const port = await freePort();
    const stateDir = join(await makeTempDir('mailnode-selfpoll-'), 'state');
    const own = fixed4k(2, 721);
    await mkdir(join(stateDir, 'mail', 'alice'), { recursive: true, mode: 0o700 });
    await fillMaildir(join(stateDir, 'mail', 'alice', 'Maildir'), own);
    const { node, transcript } = await policyNode(
      { allow_self_poll: 'Y', clients: [{ id: 'self', recip: 'bob', freq: 0, server: { address: `127.0.0.1:${port}`, username: 'alice', password: 'pw-alice' } }] },
      { pop3server: { listeners: [{ interface: '127.0.0.1', port, ssl: { latent: 'Y' } }] } },
      { stateDir },
    );
    const bob = join(stateDir, 'mail', 'bob', 'Maildir');
    await waitFor('the self-poll to deliver to bob', async () => (await maildirFiles(bob)).length === 2, 20_000, 50).catch(async (error: Error) => {
      throw new Error(`${error.message}\n${await describeNode(node, transcript)}`);
    });
    const why = await describeNode(node, transcript);
    expect(copyProblems(await maildirFiles(bob), own, { received: 'required', recip: 'bob' }), why).toEqual([]);
    await waitFor('alice to be emptied', async () => (await maildirFiles(join(stateDir, 'mail', 'alice', 'Maildir'))).length === 0, 5000, 50);
    expect(node.stderr(), why).not.toMatch(/refusing to poll/);
  }, 60_000);
});
