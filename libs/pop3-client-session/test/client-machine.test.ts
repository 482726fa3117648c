/**
 * The client session machine driven without sockets: `connect` is replaced with provide() by an
 * in-memory scripted transport, the sink and ledger are fakes. Asserts the state sequence, what
 * is (and is not) sent in each failure, and the order of login methods.
 */
import { createActor, fromPromise, toPromise } from 'xstate';
import { describe, expect, it } from 'vitest';
import { apopDigest, buildCramMd5Response, buildSaslPlain, encodeBase64 } from '@mailnode/pop3-protocol';
import type { AuthType } from '@mailnode/config';
import { pop3ClientMachine, RetrievalError, type ClientSessionInput, type ClientSessionOutput, type Pop3Transport } from '../src/index.ts';
import { CRAM_CHALLENGE, fail, FakeLedger, FakeSink, FakeTransport, mailbox, MemoryLog, numbersOf, scriptedMailbox, status, type Handler, type MailboxScript, type SinkScript } from './fakes.ts';

const GREETING = 'POP3 ready <1896.697170952@dbc.mtview.ca.us>';
const CREDENTIAL_VERBS = ['USER', 'PASS', 'APOP', 'AUTH'];

interface RunOptions {
  readonly script: MailboxScript;
  readonly tls?: ClientSessionInput['tls'];
  readonly capa?: boolean;
  readonly authtypes?: readonly AuthType[];
  readonly initialResponse?: boolean;
  readonly greeting?: string;
  readonly connectError?: Error;
  readonly tlsFailure?: Error;
  readonly sink?: SinkScript;
  readonly preserve?: boolean;
  readonly pipelineWindow?: number;
  readonly batchMessages?: number;
  /** Wraps the scripted server, e.g. to fail one command. */
  readonly wrap?: (base: Handler) => Handler;
}

interface Run {
  readonly output: ClientSessionOutput;
  /** Machine states in the order they were entered (consecutive repeats collapsed). */
  readonly states: string[];
  readonly transport: FakeTransport;
  readonly sink: FakeSink;
  readonly ledger: FakeLedger;
  readonly events: string[];
  readonly connects: number;
  readonly log: MemoryLog;
}

async function runSession(options: RunOptions): Promise<Run> {
  const events: string[] = [];
  const base = scriptedMailbox(options.script);
  const transport = new FakeTransport(options.wrap ? options.wrap(base) : base, events);
  transport.tlsFailure = options.tlsFailure;
  const sink = new FakeSink(events, options.sink);
  const ledger = new FakeLedger(events);
  const log = new MemoryLog();
  let connects = 0;
  const machine = pop3ClientMachine.provide({
    actors: {
      connect: fromPromise<{ transport: Pop3Transport; greeting: string }, { clientId: string }>(async () => {
        connects++;
        events.push('connect');
        if (options.connectError) throw options.connectError;
        return { transport, greeting: options.greeting ?? GREETING };
      }),
    },
  });
  const states: string[] = [];
  const note = (value: unknown) => {
    if (typeof value === 'string' && states[states.length - 1] !== value) states.push(value);
  };
  const input: ClientSessionInput = {
    clientId: 'test',
    tls: options.tls ?? 'none',
    capa: options.capa ?? false,
    authtypes: options.authtypes ?? ['USERPASS'],
    credentials: { username: 'alice', password: 'secret', initialResponse: options.initialResponse ?? false },
    sink,
    ledger,
    download: {
      preserve: options.preserve ?? false,
      pipelineWindow: options.pipelineWindow ?? 8,
      batchMessages: options.batchMessages ?? 100,
      batchBytes: 1 << 30,
      maxMessageBytes: 1 << 20,
      bufferBytes: 64 * 1024,
      stageConcurrency: 4,
      log,
    },
  };
  const actor = createActor(machine, {
    input,
    inspect: (event) => {
      if (event.type === '@xstate.microstep' || event.type === '@xstate.snapshot') note((event.snapshot as { value?: unknown }).value);
    },
  });
  actor.start();
  let timer: NodeJS.Timeout | undefined;
  const output = await Promise.race([
    toPromise(actor),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`machine did not finish; states so far: ${states.join(' → ')}`)), 5000);
    }),
  ]).finally(() => clearTimeout(timer));
  return { output, states, transport, sink, ledger, events, connects, log };
}

const sentCredentials = (commands: readonly string[]) => commands.filter((c) => CREDENTIAL_VERBS.includes(c.split(' ')[0]!.toUpperCase()));

describe('pop3ClientMachine: the happy path', () => {
  it('walks preparing → connecting → tlsCheck → authenticating → capaAfterLogin → listing → downloading → quitting → done', async () => {
    const run = await runSession({ script: { messages: mailbox(3) } });
    expect(run.output.ok, JSON.stringify(run.output)).toBe(true);
    expect(run.states).toEqual(['preparing', 'connecting', 'tlsCheck', 'authenticating', 'capaAfterLogin', 'listing', 'downloading', 'quitting', 'done']);
    expect(run.transport.commands).toEqual(['USER alice', 'PASS secret', 'CAPA', 'LIST', 'UIDL', 'RETR 1', 'RETR 2', 'RETR 3', 'DELE 1', 'DELE 2', 'DELE 3', 'QUIT']);
    expect(run.output.result).toEqual({ fetched: 3, bytes: expect.any(Number), deleted: 3, known: 0 });
    expect(run.transport.closed).toBe(true);
    expect(run.sink.published.size).toBe(3);
  });

  it('with capa and STLS: CAPA, STLS, TLS upgrade, CAPA again, and only then credentials', async () => {
    const run = await runSession({ script: { messages: mailbox(1), capa: ['STLS', 'USER', 'UIDL'] }, tls: 'stls', capa: true });
    expect(run.output.ok, JSON.stringify(run.output)).toBe(true);
    expect(run.states).toEqual([
      'preparing',
      'connecting',
      'capaBeforeTls',
      'tlsCheck',
      'startingTls',
      'capaAfterTls',
      'authenticating',
      'capaAfterLogin',
      'listing',
      'downloading',
      'quitting',
      'done',
    ]);
    expect(run.events.indexOf('TLS')).toBeGreaterThan(run.events.indexOf('C:STLS'));
    expect(run.events.indexOf('TLS')).toBeLessThan(run.events.indexOf('C:USER alice'));
    expect(run.transport.commands.slice(0, 5)).toEqual(['CAPA', 'STLS', 'CAPA', 'USER alice', 'PASS secret']);
  });

  it('an empty mailbox ends cleanly with QUIT and nothing staged', async () => {
    const run = await runSession({ script: { messages: [] } });
    expect(run.output).toMatchObject({ ok: true, result: { fetched: 0, deleted: 0, known: 0 } });
    expect(run.transport.commands.at(-1)).toBe('QUIT');
    expect(run.sink.staged).toHaveLength(0);
  });
});

describe('pop3ClientMachine: TLS is never optional once asked for', () => {
  it('STLS refused → failed at stage tls, no USER/PASS (or any credential) sent, connection closed', async () => {
    const run = await runSession({ script: { messages: mailbox(2), stls: '-ERR TLS not available' }, tls: 'stls' });
    expect(run.output.ok).toBe(false);
    expect(run.output.error?.stage).toBe('tls');
    expect(run.output.error?.message).toMatch(/STLS/);
    expect(run.states.at(-1)).toBe('failed');
    expect(run.states).not.toContain('authenticating');
    expect(sentCredentials(run.transport.commands)).toEqual([]);
    expect(run.transport.commands).toEqual(['STLS']);
    expect(run.transport.tlsStarted).toBe(0);
    expect(run.transport.closed).toBe(true);
    expect(run.sink.staged).toHaveLength(0);
  });

  it('STLS accepted but the handshake fails → failed at stage tls, no credentials sent', async () => {
    const run = await runSession({
      script: { messages: mailbox(1) },
      tls: 'stls',
      tlsFailure: new RetrievalError('tls', 'TLS certificate check failed: the server certificate is self-signed'),
    });
    expect(run.output.ok).toBe(false);
    expect(run.output.error).toMatchObject({ stage: 'tls', message: expect.stringMatching(/self-signed/) });
    expect(sentCredentials(run.transport.commands)).toEqual([]);
    expect(run.transport.closed).toBe(true);
  });

  it('CAPA after STLS failing (connection dropped) → stage tls, no credentials sent', async () => {
    let capas = 0;
    const run = await runSession({
      script: { messages: mailbox(1), capa: ['STLS'] },
      wrap: (base) => (line) => (line === 'CAPA' && ++capas === 2 ? [fail('server closed the connection')] : base(line)),
      tls: 'stls',
      capa: true,
    });
    expect(run.output.ok).toBe(false);
    expect(sentCredentials(run.transport.commands)).toEqual([]);
    expect(run.transport.closed).toBe(true);
    // The session failed while securing the connection: the report should say so (not 'download').
    expect(run.output.error?.stage).toBe('tls');
  });
});

describe('pop3ClientMachine: login methods', () => {
  it('tries authtypes in the configured order, falling back on -ERR, and stops at the first success', async () => {
    const run = await runSession({
      script: { messages: mailbox(1), login: { SASL_CRAM_MD5: '-ERR [AUTH] no', APOP: '-ERR [AUTH] bad digest', SASL_LOGIN: '+OK welcome' } },
      authtypes: ['SASL_CRAM_MD5', 'APOP', 'SASL_LOGIN', 'USERPASS'],
    });
    expect(run.output.ok, JSON.stringify(run.output)).toBe(true);
    const cram = encodeBase64(buildCramMd5Response('alice', 'secret', CRAM_CHALLENGE));
    expect(run.transport.commands.slice(0, 6)).toEqual([
      'AUTH CRAM-MD5',
      cram,
      `APOP alice ${apopDigest('<1896.697170952@dbc.mtview.ca.us>', 'secret')}`,
      'AUTH LOGIN',
      encodeBase64('alice'),
      encodeBase64('secret'),
    ]);
    // USERPASS, after the method that worked, is never tried.
    expect(run.transport.commands).not.toContain('USER alice');
    expect(run.transport.commands[6]).toBe('CAPA');
  });

  it('SASL PLAIN with and without the initial response', async () => {
    const plain = encodeBase64(buildSaslPlain('alice', 'secret'));
    const initial = await runSession({ script: { messages: [] }, authtypes: ['SASL_PLAIN'], initialResponse: true });
    expect(initial.output.ok).toBe(true);
    expect(initial.transport.commands[0]).toBe(`AUTH PLAIN ${plain}`);
    const stepped = await runSession({ script: { messages: [] }, authtypes: ['SASL_PLAIN'], initialResponse: false });
    expect(stepped.output.ok).toBe(true);
    expect(stepped.transport.commands.slice(0, 2)).toEqual(['AUTH PLAIN', plain]);
  });

  it('APOP without a timestamp in the greeting is skipped locally (nothing sent) and the next method is tried', async () => {
    const run = await runSession({ script: { messages: [] }, authtypes: ['APOP', 'USERPASS'], greeting: 'POP3 ready' });
    expect(run.output.ok).toBe(true);
    expect(run.transport.commands.filter((c) => c.startsWith('APOP'))).toEqual([]);
    expect(run.transport.commands.slice(0, 2)).toEqual(['USER alice', 'PASS secret']);
  });

  it('SASL EXTERNAL without TLS and a client certificate is refused locally, never sent', async () => {
    const run = await runSession({ script: { messages: [] }, authtypes: ['SASL_EXTERNAL', 'USERPASS'] });
    expect(run.output.ok).toBe(true);
    expect(run.transport.commands.some((c) => c.startsWith('AUTH EXTERNAL'))).toBe(false);
  });

  it('every method refused → failed at stage auth naming each refusal; nothing listed or fetched', async () => {
    const run = await runSession({
      script: { messages: mailbox(2), login: { USERPASS: '-ERR [AUTH] invalid password', SASL_PLAIN: '-ERR [AUTH] mechanism failed' } },
      authtypes: ['USERPASS', 'SASL_PLAIN'],
      initialResponse: true,
    });
    expect(run.output.ok).toBe(false);
    expect(run.output.error?.stage).toBe('auth');
    expect(run.output.error?.message).toMatch(/USERPASS: .*invalid password/);
    expect(run.output.error?.message).toMatch(/SASL_PLAIN: .*mechanism failed/);
    expect(run.transport.commands.filter((c) => /^(LIST|UIDL|RETR|DELE)/.test(c))).toEqual([]);
    expect(run.transport.closed).toBe(true);
  });

  for (const code of ['SYS/TEMP', 'IN-USE', 'LOGIN-DELAY']) {
    it(`[${code}] on login stops: no further methods are tried`, async () => {
      const run = await runSession({
        script: { messages: mailbox(1), login: { USERPASS: `-ERR [${code}] try later` } },
        authtypes: ['USERPASS', 'SASL_PLAIN', 'APOP'],
      });
      expect(run.output.ok).toBe(false);
      expect(run.output.error?.stage).toBe('auth');
      expect(run.output.error?.message).toMatch(/try later/);
      expect(run.transport.commands).toEqual(['USER alice', 'PASS secret']);
      expect(run.states.filter((s) => s === 'authenticating')).toHaveLength(1);
    });
  }

  it('a transport failure during login ends the session at stage auth without trying other methods', async () => {
    const run = await runSession({
      script: { messages: mailbox(1) },
      wrap: (base) => (line) => (line.startsWith('PASS') ? [fail('server did not answer within 2 s')] : base(line)),
      authtypes: ['USERPASS', 'APOP'],
    });
    expect(run.output.ok).toBe(false);
    expect(run.transport.commands.some((c) => c.startsWith('APOP'))).toBe(false);
    expect(run.output.error?.message).toMatch(/did not answer/);
    // The failure happened while logging in: the report should say so (not 'download').
    expect(run.output.error?.stage).toBe('auth');
  });

  it('a malformed reply during login ends the session at stage auth', async () => {
    const run = await runSession({
      script: { messages: mailbox(1), login: { USERPASS: 'garbage that is no status line' } },
      authtypes: ['USERPASS', 'APOP'],
    });
    expect(run.output.ok).toBe(false);
    expect(run.output.error?.message).toMatch(/malformed reply/);
    expect(run.transport.commands.some((c) => c.startsWith('APOP'))).toBe(false);
    expect(run.output.error?.stage).toBe('auth');
  });
});

describe('pop3ClientMachine: local failures', () => {
  it('recip failure (sink.prepare rejects) → failed at stage recip and nothing connects', async () => {
    const run = await runSession({
      script: { messages: mailbox(2) },
      sink: { prepareError: new RetrievalError('recip', "recip 'nobody' is not a user in the Directory; nothing downloaded") },
    });
    expect(run.output.ok).toBe(false);
    expect(run.output.error).toEqual({ stage: 'recip', message: expect.stringMatching(/nobody/) });
    expect(run.connects).toBe(0);
    expect(run.transport.commands).toEqual([]);
    expect(run.states).toEqual(['preparing', 'failed']);
  });

  it('a plain Error from prepare() is still reported at stage recip', async () => {
    const run = await runSession({ script: { messages: [] }, sink: { prepareError: new Error('EACCES: downloads directory') } });
    expect(run.output.error).toEqual({ stage: 'recip', message: 'EACCES: downloads directory' });
    expect(run.connects).toBe(0);
  });

  it('connect failure → failed at stage connect', async () => {
    const run = await runSession({ script: { messages: [] }, connectError: new RetrievalError('connect', 'cannot connect to 127.0.0.1:1: ECONNREFUSED') });
    expect(run.output).toMatchObject({ ok: false, error: { stage: 'connect', message: expect.stringMatching(/ECONNREFUSED/) } });
    expect(run.states).toEqual(['preparing', 'connecting', 'failed']);
  });

  it('a greeting failure keeps the stage the transport reported', async () => {
    const run = await runSession({ script: { messages: [] }, connectError: new RetrievalError('greeting', 'server refused the connection: busy') });
    expect(run.output.error?.stage).toBe('greeting');
  });

  it('publish failure → QUIT is still sent (commits nothing of this batch), stage deliver, no DELE', async () => {
    const run = await runSession({ script: { messages: mailbox(3) }, sink: { publishFails: true } });
    expect(run.output.ok).toBe(false);
    expect(run.output.error?.stage).toBe('deliver');
    expect(run.states).toContain('quittingAfterFailure');
    expect(numbersOf(run.transport.commands, 'DELE')).toEqual([]);
    expect(run.transport.commands.at(-1)).toBe('QUIT');
    expect(run.ledger.delivered.size).toBe(0);
    expect(run.sink.discarded).toHaveLength(3);
  });

  it('publish failure in the second batch: the first batch is deleted, the second is not', async () => {
    const run = await runSession({ script: { messages: mailbox(4) }, sink: { publishFails: 2 }, batchMessages: 2 });
    expect(run.output.error?.stage).toBe('deliver');
    expect(numbersOf(run.transport.commands, 'DELE')).toEqual([1, 2]);
    expect([...run.ledger.delivered]).toEqual(['u1', 'u2']);
    expect(run.transport.commands.at(-1)).toBe('QUIT');
  });

  it('a dropped connection mid-download → stage download, no QUIT, nothing of that batch deleted', async () => {
    const run = await runSession({
      script: { messages: mailbox(3), retr: (n) => (n === 2 ? [status('+OK'), { kind: 'fail', error: new RetrievalError('download', 'server closed the connection') }] : undefined) },
    });
    expect(run.output).toMatchObject({ ok: false, error: { stage: 'download', message: expect.stringMatching(/closed the connection/) } });
    expect(run.transport.commands).not.toContain('QUIT');
    expect(numbersOf(run.transport.commands, 'DELE')).toEqual([]);
    expect(run.sink.published.size).toBe(0);
    expect(run.transport.closed).toBe(true);
  });
});

describe('pop3ClientMachine: PIPELINING', () => {
  it('uses the pipeline window only when CAPA (after login) announces PIPELINING', async () => {
    const piped = await runSession({ script: { messages: mailbox(20), capa: ['PIPELINING', 'UIDL'] }, pipelineWindow: 5 });
    expect(piped.output.ok).toBe(true);
    expect(piped.transport.maxOutstandingByVerb.get('RETR')).toBe(5);
    expect(piped.transport.maxOutstandingByVerb.get('DELE')).toBe(5);

    const lockstep = await runSession({ script: { messages: mailbox(20), capa: ['UIDL'] }, pipelineWindow: 5 });
    expect(lockstep.output.ok).toBe(true);
    expect(lockstep.transport.maxOutstanding).toBe(1);
  });

  it('a server without CAPA gets lock-step commands and the session still succeeds', async () => {
    const run = await runSession({ script: { messages: mailbox(5), capa: null }, pipelineWindow: 5 });
    expect(run.output.ok).toBe(true);
    expect(run.transport.maxOutstanding).toBe(1);
    expect(run.output.result?.fetched).toBe(5);
  });
});
