/**
 * downloadAll against the in-memory transport: the pipelining window, the order of effects
 * (stage → ledger pending → publish → ledger delivered → DELE), what happens on each kind of
 * failure, the ledger settle after a crash, messages without UIDL, refused RETRs, streaming of
 * large messages and the message size cap. A property test throws random faults at it and
 * checks the one rule that matters: nothing is deleted that is not durably delivered.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { downloadAll, Pop3ReplyError, RetrievalError, type DownloadOptions, type DownloadResult } from '../src/index.ts';
import type { RemoteMessage } from '../src/index.ts';
import {
  fail,
  FakeLedger,
  FakeSink,
  FakeTransport,
  mailbox,
  MemoryLog,
  numbersOf,
  scriptedMailbox,
  status,
  wireMessage,
  type FakeMessage,
  type Handler,
  type MailboxScript,
  type SinkScript,
} from './fakes.ts';

interface Setup {
  readonly script: MailboxScript;
  readonly sink?: SinkScript;
  readonly ledger?: { delivered?: Iterable<string>; pending?: Iterable<[string, string]> };
  readonly options?: Partial<DownloadOptions>;
  /** Wraps the scripted server, e.g. to fail one command. */
  readonly wrap?: (base: Handler) => Handler;
  /** Replaces the in-memory ledger (e.g. one whose writes are held). */
  readonly makeLedger?: (events: string[]) => FakeLedger;
}

interface Outcome {
  readonly result?: DownloadResult;
  readonly error?: unknown;
  readonly transport: FakeTransport;
  readonly sink: FakeSink;
  readonly ledger: FakeLedger;
  readonly events: string[];
  readonly log: MemoryLog;
}

function listed(messages: readonly FakeMessage[]): RemoteMessage[] {
  return messages.map((m, i) => ({ number: i + 1, size: m.listedSize ?? m.data.length, uidl: m.uidl }));
}

async function download(setup: Setup): Promise<Outcome> {
  const events: string[] = [];
  const base = scriptedMailbox(setup.script);
  const transport = new FakeTransport(setup.wrap ? setup.wrap(base) : base, events);
  const sink = new FakeSink(events, setup.sink);
  const ledger = setup.makeLedger ? setup.makeLedger(events) : new FakeLedger(events, setup.ledger);
  const log = new MemoryLog();
  const options: DownloadOptions = {
    preserve: false,
    window: 4,
    batchMessages: 100,
    batchBytes: 1 << 30,
    maxMessageBytes: 1 << 20,
    bufferBytes: 64 * 1024,
    stageConcurrency: 4,
    log,
    ...setup.options,
  };
  try {
    const result = await downloadAll(transport, listed(setup.script.messages), sink, ledger, options);
    return { result, transport, sink, ledger, events, log };
  } catch (error) {
    return { error, transport, sink, ledger, events, log };
  }
}

/**
 * The safety rule, from the event log: every DELE n comes after a publish that contained
 * message n's UIDL (or n's "#n") and, when it has a UIDL, after markDelivered of it — or the
 * UIDL was already delivered before the run.
 */
function assertNoUnsafeDele(outcome: Outcome, messages: readonly FakeMessage[], deliveredBefore: ReadonlySet<string> = new Set()): void {
  const published = new Set<string>();
  const delivered = new Set<string>(deliveredBefore);
  for (const event of outcome.events) {
    const [kind, rest = ''] = event.split(/:(.*)/s);
    if (kind === 'publish') for (const uidl of rest.split(',')) published.add(uidl);
    else if (kind === 'delivered') for (const uidl of rest.split(',')) delivered.add(uidl);
    else if (kind === 'C' && rest.startsWith('DELE ')) {
      const n = Number(rest.slice(5));
      const uidl = messages[n - 1]?.uidl;
      if (uidl !== undefined && deliveredBefore.has(uidl)) continue;
      const key = uidl ?? `#${n}`;
      expect(published.has(key), `DELE ${n} before its publish (events: ${outcome.events.join(' ')})`).toBe(true);
      if (uidl !== undefined) expect(delivered.has(uidl), `DELE ${n} before markDelivered(${uidl})`).toBe(true);
    }
  }
}

describe('downloadAll: pipelining', () => {
  for (const window of [1, 3, 8]) {
    it(`never has more than ${window} commands outstanding (window ${window})`, async () => {
      const messages = mailbox(25);
      const outcome = await download({ script: { messages }, options: { window, batchMessages: 10 } });
      expect(outcome.error).toBeUndefined();
      expect(outcome.transport.maxOutstanding).toBeLessThanOrEqual(window);
      // And it does use the window it has.
      expect(outcome.transport.maxOutstandingByVerb.get('RETR')).toBe(window);
      expect(outcome.transport.maxOutstandingByVerb.get('DELE')).toBe(window);
      expect(numbersOf(outcome.transport.commands, 'RETR')).toEqual(messages.map((_, i) => i + 1));
      expect(outcome.result).toMatchObject({ fetched: 25, deleted: 25, known: 0 });
    });
  }
});

describe('downloadAll: order of effects', () => {
  it('per batch: RETR and stage, then ledger pending, publish, ledger delivered, and only then DELE', async () => {
    const messages = mailbox(6);
    const outcome = await download({ script: { messages }, options: { batchMessages: 3, window: 2 } });
    expect(outcome.error).toBeUndefined();
    const interesting = outcome.events.filter((e) => !e.startsWith('C:RETR') && !e.startsWith('stage:'));
    expect(interesting).toEqual([
      'pending:u1,u2,u3',
      'publish:u1,u2,u3',
      'delivered:u1,u2,u3',
      'C:DELE 1',
      'C:DELE 2',
      'C:DELE 3',
      'pending:u4,u5,u6',
      'publish:u4,u5,u6',
      'delivered:u4,u5,u6',
      'C:DELE 4',
      'C:DELE 5',
      'C:DELE 6',
      'compact',
    ]);
    // Every message of a batch is staged before the batch's ledger entry.
    expect(outcome.events.indexOf('stage:u3')).toBeLessThan(outcome.events.indexOf('pending:u1,u2,u3'));
    assertNoUnsafeDele(outcome, messages);
    expect([...outcome.ledger.compacted!]).toEqual(['u1', 'u2', 'u3', 'u4', 'u5', 'u6']);
  });

  it('preserve: nothing is deleted, everything is recorded as delivered', async () => {
    const messages = mailbox(4);
    const outcome = await download({ script: { messages }, options: { preserve: true } });
    expect(outcome.result).toMatchObject({ fetched: 4, deleted: 0 });
    expect(numbersOf(outcome.transport.commands, 'DELE')).toEqual([]);
    expect([...outcome.ledger.delivered]).toEqual(['u1', 'u2', 'u3', 'u4']);
  });

  it('the staged bytes are the wire bytes, with the Received header on top when asked for', async () => {
    const messages = mailbox(2, { size: 500 });
    const outcome = await download({ script: { messages }, options: { receivedHeader: (m) => `Received: by test for ${m.uidl}\r\n` } });
    expect(outcome.sink.staged.map((s) => s.data.toString('latin1'))).toEqual(messages.map((m) => `Received: by test for ${m.uidl}\r\n${m.data.toString('latin1')}`));
  });
});

/** A ledger whose n-th markPending waits until released: a commit that takes its time (an fsync). */
class HeldLedger extends FakeLedger {
  private calls = 0;
  private releaseHeld: () => void = () => {};
  private readonly held = new Promise<void>((resolve) => (this.releaseHeld = resolve));

  constructor(
    events: string[],
    private readonly holdCall: number,
    releaseAfterMs: number,
  ) {
    super(events);
    setTimeout(() => this.releaseHeld(), releaseAfterMs);
  }

  override async markPending(entries: ReadonlyArray<{ uidl: string; ref: string }>): Promise<void> {
    if (++this.calls === this.holdCall) await this.held;
    await super.markPending(entries);
  }
}

describe('downloadAll: a batch commits while the next one is fetched', () => {
  it('RETRs of batch 2 go out during batch 1 commit, batch 3 waits for it, DELEs only after it', async () => {
    const messages = mailbox(9);
    const outcome = await download({ script: { messages }, options: { batchMessages: 3, window: 2 }, makeLedger: (events) => new HeldLedger(events, 1, 20) });
    expect(outcome.error).toBeUndefined();
    const at = (event: string) => outcome.events.indexOf(event);
    // Batch 2 was fetched and staged while batch 1's ledger record waited...
    expect(at('stage:u6')).toBeLessThan(at('pending:u1,u2,u3'));
    // ...but batch 3 (a third open batch) was not sent before batch 1 was committed.
    expect(at('C:RETR 7')).toBeGreaterThan(at('delivered:u1,u2,u3'));
    expect(at('C:DELE 1')).toBeGreaterThan(at('delivered:u1,u2,u3'));
    expect(outcome.result).toMatchObject({ fetched: 9, deleted: 9 });
    assertNoUnsafeDele(outcome, messages);
  });

  it('a staging failure in batch 2 during batch 1 commit: batch 1 is stored and deleted, batch 2 thrown away', async () => {
    const messages = mailbox(6);
    const outcome = await download({
      script: { messages },
      sink: { stageFails: (meta) => meta.uidl === 'u5' },
      options: { batchMessages: 3, window: 2 },
      makeLedger: (events) => new HeldLedger(events, 1, 20),
    });
    expect((outcome.error as RetrievalError).stage).toBe('deliver');
    expect((outcome.error as Error).message).toMatch(/disk full while staging u5/);
    expect(at(outcome.events, 'stage-failed:u5')).toBeLessThan(at(outcome.events, 'pending:u1,u2,u3'));
    expect(numbersOf(outcome.transport.commands, 'DELE')).toEqual([1, 2, 3]);
    expect([...outcome.sink.published.values()].map((r) => r.meta.uidl)).toEqual(['u1', 'u2', 'u3']);
    expect(outcome.sink.discarded).toEqual(outcome.sink.staged.filter((s) => s.meta.uidl === 'u4').map((s) => s.ref));
    expect(outcome.transport.outstanding).toBe(0);
    expect(outcome.result).toBeUndefined();
    assertNoUnsafeDele(outcome, messages);
  });

  it('a link dropped during batch 1 commit: the commit still completes (recorded, deleted next run), batch 2 thrown away', async () => {
    const messages = mailbox(6);
    const outcome = await download({
      script: { messages, retr: (n) => (n === 5 ? [fail('server closed the connection')] : undefined) },
      options: { batchMessages: 3, window: 2 },
      makeLedger: (events) => new HeldLedger(events, 1, 20),
    });
    expect((outcome.error as RetrievalError).stage).toBe('download');
    expect([...outcome.ledger.delivered]).toEqual(['u1', 'u2', 'u3']);
    expect([...outcome.sink.published.values()].map((r) => r.meta.uidl)).toEqual(['u1', 'u2', 'u3']);
    expect(outcome.sink.discarded).toEqual(outcome.sink.staged.filter((s) => s.meta.uidl === 'u4').map((s) => s.ref));
    assertNoUnsafeDele(outcome, messages);
  });
});

describe('downloadAll: which stage a lost link is reported at', () => {
  it('a link lost on a DELE reply while RETRs are still due ended the download', async () => {
    const messages = mailbox(6);
    const outcome = await download({
      script: { messages },
      wrap: (base) => (line) => (line === 'DELE 2' ? [fail('server closed the connection')] : base(line)),
      options: { batchMessages: 3, window: 2 },
    });
    expect(numbersOf(outcome.transport.commands, 'RETR')).toContain(5);
    expect((outcome.error as RetrievalError).stage).toBe('download');
    expect((outcome.error as Error).message).toBe('server closed the connection');
    expect([...outcome.ledger.delivered].slice(0, 3)).toEqual(['u1', 'u2', 'u3']);
    assertNoUnsafeDele(outcome, messages);
  });
});

function at(events: readonly string[], event: string): number {
  const index = events.indexOf(event);
  expect(index, `${event} in ${events.join(' ')}`).toBeGreaterThanOrEqual(0);
  return index;
}

describe('downloadAll: delivery failures never lead to DELE', () => {
  it('publish failure → RetrievalError(deliver), staged messages discarded, no markDelivered, no DELE', async () => {
    const messages = mailbox(3);
    const outcome = await download({ script: { messages }, sink: { publishFails: true } });
    expect(outcome.error).toBeInstanceOf(RetrievalError);
    expect((outcome.error as RetrievalError).stage).toBe('deliver');
    expect(numbersOf(outcome.transport.commands, 'DELE')).toEqual([]);
    expect(outcome.ledger.delivered.size).toBe(0);
    expect(outcome.sink.discarded.sort()).toEqual(outcome.sink.staged.map((s) => s.ref).sort());
    expect(outcome.sink.published.size).toBe(0);
  });

  it('publish failure in batch 2 of 3: batch 1 deleted, batches 2 and 3 neither published nor deleted', async () => {
    const messages = mailbox(6);
    const outcome = await download({ script: { messages }, sink: { publishFails: 2 }, options: { batchMessages: 2 } });
    expect((outcome.error as RetrievalError).stage).toBe('deliver');
    expect(numbersOf(outcome.transport.commands, 'DELE')).toEqual([1, 2]);
    // Batch 3's RETRs may already be in flight beside batch 2's commit; they are read past, never kept.
    expect(numbersOf(outcome.transport.commands, 'RETR').slice(0, 4)).toEqual([1, 2, 3, 4]);
    expect([...outcome.sink.published.values()].map((r) => r.meta.uidl)).toEqual(['u1', 'u2']);
    expect(outcome.sink.discarded.sort()).toEqual(outcome.sink.staged.filter((s) => !outcome.sink.published.has(s.ref)).map((s) => s.ref).sort());
    // Every reply was read, so QUIT (which commits DELE 1 and 2) gets its own answer.
    expect(outcome.transport.outstanding).toBe(0);
    assertNoUnsafeDele(outcome, messages);
  });

  it('a staging failure (disk full) → deliver error, the rest of the batch discarded, nothing published or deleted', async () => {
    const messages = mailbox(5);
    const outcome = await download({ script: { messages }, sink: { stageFails: (meta) => meta.uidl === 'u3' }, options: { stageConcurrency: 1, window: 1 } });
    expect((outcome.error as RetrievalError).stage).toBe('deliver');
    expect((outcome.error as Error).message).toMatch(/disk full/);
    expect(outcome.sink.published.size).toBe(0);
    expect(numbersOf(outcome.transport.commands, 'DELE')).toEqual([]);
    expect(outcome.sink.discarded.sort()).toEqual(outcome.sink.staged.map((s) => s.ref).sort());
  });

  it('a DELE answered -ERR is not counted and does not stop the run', async () => {
    const messages = mailbox(4);
    const outcome = await download({ script: { messages, dele: (n) => (n === 2 ? '-ERR [SYS/TEMP] cannot delete' : '+OK') } });
    expect(outcome.error).toBeUndefined();
    expect(outcome.result).toMatchObject({ fetched: 4, deleted: 3 });
    expect(numbersOf(outcome.transport.commands, 'DELE')).toEqual([1, 2, 3, 4]);
  });

  it('a dropped connection while DELE replies are read → RetrievalError(delete); the messages were delivered', async () => {
    const messages = mailbox(3);
    const outcome = await download({
      script: { messages },
      wrap: (base) => (line) => (line === 'DELE 2' ? [fail('server closed the connection')] : base(line)),
      options: { window: 1 },
    });
    expect((outcome.error as RetrievalError).stage).toBe('delete');
    expect([...outcome.ledger.delivered]).toEqual(['u1', 'u2', 'u3']);
    expect(outcome.sink.published.size).toBe(3);
  });
});

describe('downloadAll: the ledger after a crash', () => {
  it('settles pending entries: a published one is marked delivered without RETR, and DELEd when preserve is N', async () => {
    const messages = mailbox(5);
    const outcome = await download({
      script: { messages },
      sink: { pending: { 'ref-u1': 'delivered', 'ref-u2': 'not-delivered' } },
      ledger: { delivered: ['u3'], pending: [['u1', 'ref-u1'], ['u2', 'ref-u2']] },
    });
    expect(outcome.error).toBeUndefined();
    // u1 settled as delivered before anything was fetched.
    expect(outcome.events.indexOf('delivered:u1')).toBeLessThan(outcome.events.findIndex((e) => e.startsWith('C:RETR')));
    expect(numbersOf(outcome.transport.commands, 'RETR')).toEqual([2, 4, 5]);
    // Known ones (u1 settled, u3 from before) are deleted first, then the freshly fetched ones.
    expect(numbersOf(outcome.transport.commands, 'DELE')).toEqual([1, 3, 2, 4, 5]);
    expect(outcome.result).toMatchObject({ fetched: 3, deleted: 5, known: 2 });
    expect(outcome.sink.resolved.sort()).toEqual(['ref-u1', 'ref-u2']);
    expect(outcome.log.records.some((r) => r.msg?.includes('interrupted'))).toBe(true);
    assertNoUnsafeDele(outcome, messages, new Set(['u1', 'u3']));
  });

  it('with preserve Y, already delivered messages are neither fetched nor deleted', async () => {
    const messages = mailbox(4);
    const outcome = await download({
      script: { messages },
      sink: { pending: { 'ref-u2': 'delivered' } },
      ledger: { delivered: ['u1'], pending: [['u2', 'ref-u2']] },
      options: { preserve: true },
    });
    expect(numbersOf(outcome.transport.commands, 'RETR')).toEqual([3, 4]);
    expect(numbersOf(outcome.transport.commands, 'DELE')).toEqual([]);
    expect(outcome.result).toMatchObject({ fetched: 2, deleted: 0, known: 2 });
  });

  it('a pending entry whose UIDL is also delivered is not resolved again', async () => {
    const messages = mailbox(2);
    const outcome = await download({ script: { messages }, ledger: { delivered: ['u1'], pending: [['u1', 'ref-old']] } });
    expect(outcome.sink.resolved).toEqual([]);
    expect(numbersOf(outcome.transport.commands, 'RETR')).toEqual([2]);
  });

  it('compact is told every UIDL the server still lists (vanished ones may go)', async () => {
    const messages = mailbox(3);
    const outcome = await download({ script: { messages }, ledger: { delivered: ['gone-1', 'u2'] }, options: { preserve: true } });
    expect([...outcome.ledger.compacted!].sort()).toEqual(['u1', 'u2', 'u3']);
    expect(outcome.ledger.delivered.has('gone-1')).toBe(false);
  });
});

describe('downloadAll: awkward servers', () => {
  it('messages without UIDL are fetched, published and deleted, but never enter the ledger', async () => {
    const messages = mailbox(4, { uidl: (i) => (i % 2 === 0 ? undefined : `u${i}`) });
    const outcome = await download({ script: { messages } });
    expect(outcome.error).toBeUndefined();
    expect(outcome.result).toMatchObject({ fetched: 4, deleted: 4 });
    expect(outcome.events).toContain('pending:u1,u3');
    expect(outcome.events).toContain('delivered:u1,u3');
    expect(outcome.events).toContain('publish:u1,#2,u3,#4');
    assertNoUnsafeDele(outcome, messages);
  });

  it('messages without UIDL are fetched again on every run when preserved (nothing to recognise them by)', async () => {
    const messages = mailbox(2, { uidl: () => undefined });
    const first = await download({ script: { messages }, options: { preserve: true } });
    expect(first.result?.fetched).toBe(2);
    const second = await download({ script: { messages }, ledger: { delivered: first.ledger.delivered }, options: { preserve: true } });
    expect(second.result?.fetched).toBe(2);
  });

  it('RETR -ERR: the message is skipped (warned, not staged, not deleted); the others go through', async () => {
    const messages = mailbox(4);
    const outcome = await download({ script: { messages, retr: (n) => (n === 2 ? [status('-ERR [SYS/PERM] message 2 is gone')] : undefined) }, options: { window: 4 } });
    expect(outcome.error).toBeUndefined();
    expect(outcome.result).toMatchObject({ fetched: 3, deleted: 3 });
    expect(numbersOf(outcome.transport.commands, 'DELE')).toEqual([1, 3, 4]);
    expect(outcome.sink.staged.map((s) => s.meta.uidl)).toEqual(['u1', 'u3', 'u4']);
    expect(outcome.ledger.delivered.has('u2')).toBe(false);
    const warning = outcome.log.records.find((r) => r.level === 'warn');
    expect(warning?.msg).toMatch(/RETR refused/);
    expect(warning?.obj).toMatchObject({ number: 2, uidl: 'u2' });
  });

  it('a large message is streamed: the sink gets an AsyncIterable above bufferBytes, a Buffer below', async () => {
    const small = wireMessage(1, 10_000);
    const large = wireMessage(2, 300_000);
    const messages: FakeMessage[] = [
      { data: small, uidl: 'small' },
      { data: large, uidl: 'large' },
    ];
    const outcome = await download({ script: { messages, chunkSize: 16 * 1024 }, options: { bufferBytes: 64 * 1024, receivedHeader: () => 'Received: x\r\n' } });
    expect(outcome.error).toBeUndefined();
    const [first, second] = outcome.sink.staged;
    expect(first).toMatchObject({ streamed: false });
    expect(second).toMatchObject({ streamed: true });
    expect(first!.data.equals(Buffer.concat([Buffer.from('Received: x\r\n'), small]))).toBe(true);
    expect(second!.data.equals(Buffer.concat([Buffer.from('Received: x\r\n'), large]))).toBe(true);
  });

  it('a message over maxMessageBytes ends the run: download error, nothing of its batch published or deleted', async () => {
    const messages: FakeMessage[] = [
      { data: wireMessage(1, 1000), uidl: 'u1' },
      { data: wireMessage(2, 1000), uidl: 'u2' },
      { data: wireMessage(3, 200_000), uidl: 'u3', listedSize: 1000 },
      { data: wireMessage(4, 1000), uidl: 'u4' },
    ];
    const outcome = await download({ script: { messages, chunkSize: 8192 }, options: { maxMessageBytes: 100_000, bufferBytes: 16 * 1024, batchMessages: 10 } });
    expect(outcome.error).toBeInstanceOf(RetrievalError);
    expect((outcome.error as RetrievalError).stage).toBe('download');
    expect((outcome.error as Error).message).toMatch(/larger than 100000 bytes/);
    expect(numbersOf(outcome.transport.commands, 'DELE')).toEqual([]);
    expect(outcome.sink.published.size).toBe(0);
    expect(outcome.ledger.delivered.size).toBe(0);
    // What was staged before it is thrown away again.
    expect(outcome.sink.discarded.sort()).toEqual(outcome.sink.staged.map((s) => s.ref).sort());
  });

  it('an oversized message in a later batch leaves the earlier batches delivered and recorded (the next run deletes them)', async () => {
    const messages: FakeMessage[] = [...mailbox(2), { data: wireMessage(3, 50_000), uidl: 'u3' }];
    const outcome = await download({ script: { messages }, options: { maxMessageBytes: 10_000, batchMessages: 2 } });
    expect((outcome.error as RetrievalError).stage).toBe('download');
    // The link is given up without QUIT, so no DELE of this session would take effect anyway.
    expect([...outcome.ledger.delivered]).toEqual(['u1', 'u2']);
    expect([...outcome.sink.published.values()].map((r) => r.meta.uidl)).toEqual(['u1', 'u2']);
    expect(outcome.sink.staged.map((s) => s.meta.uidl)).toEqual(['u1', 'u2']);
    assertNoUnsafeDele(outcome, messages);
  });

  it('a connection dropped mid-body: download error, the batch is discarded, nothing deleted', async () => {
    const messages = mailbox(4);
    const outcome = await download({
      script: { messages, retr: (n) => (n === 3 ? [status('+OK'), { kind: 'fail', error: new RetrievalError('download', 'server closed the connection') }] : undefined) },
    });
    expect((outcome.error as RetrievalError).stage).toBe('download');
    expect(numbersOf(outcome.transport.commands, 'DELE')).toEqual([]);
    expect(outcome.sink.published.size).toBe(0);
    expect(outcome.sink.discarded.sort()).toEqual(outcome.sink.staged.map((s) => s.ref).sort());
  });

  it('a continuation line in answer to RETR is treated as a refusal (skipped, not deleted)', async () => {
    const messages = mailbox(2);
    const outcome = await download({ script: { messages, retr: (n) => (n === 1 ? [status('+ what?')] : undefined) } });
    expect(outcome.error).toBeUndefined();
    expect(numbersOf(outcome.transport.commands, 'DELE')).toEqual([2]);
  });
});

describe('downloadAll: random faults never cause an unsafe DELE (property)', () => {
  type Fault = { kind: 'none' } | { kind: 'retr-err' } | { kind: 'drop-status' } | { kind: 'drop-body' } | { kind: 'oversize' } | { kind: 'stage-fail' } | { kind: 'dele-err' };
  const fault = fc.oneof(
    { arbitrary: fc.constant<Fault>({ kind: 'none' }), weight: 12 },
    fc.constant<Fault>({ kind: 'retr-err' }),
    fc.constant<Fault>({ kind: 'drop-status' }),
    fc.constant<Fault>({ kind: 'drop-body' }),
    fc.constant<Fault>({ kind: 'oversize' }),
    fc.constant<Fault>({ kind: 'stage-fail' }),
    fc.constant<Fault>({ kind: 'dele-err' }),
  );

  it('holds for random mailboxes, windows, batch sizes, ledger states and faults', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fault, { minLength: 1, maxLength: 14 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 4 }),
        fc.boolean(),
        fc.oneof(fc.constant<number | false>(false), fc.integer({ min: 1, max: 4 })),
        fc.array(fc.boolean(), { minLength: 14, maxLength: 14 }),
        async (faults, window, batchMessages, stageConcurrency, preserve, publishFails, alreadyDelivered) => {
          const messages = faults.map((f, i) => ({ data: wireMessage(i + 1, f.kind === 'oversize' ? 30_000 : 300), uidl: `u${i + 1}` }));
          const deliveredBefore = new Set(messages.filter((_, i) => alreadyDelivered[i]).map((m) => m.uidl));
          const script: MailboxScript = {
            messages,
            chunkSize: 4096,
            retr: (n) => {
              const f = faults[n - 1]!;
              if (f.kind === 'retr-err') return [status('-ERR no such message')];
              if (f.kind === 'drop-status') return [fail('server closed the connection')];
              if (f.kind === 'drop-body') return [status('+OK'), { kind: 'fail', error: new RetrievalError('download', 'server closed the connection') }];
              return undefined;
            },
            dele: (n) => (faults[n - 1]?.kind === 'dele-err' ? '-ERR cannot' : '+OK'),
          };
          const outcome = await download({
            script,
            sink: { stageFails: (meta) => faults[Number(meta.uidl.slice(1)) - 1]?.kind === 'stage-fail', publishFails: publishFails === false ? undefined : publishFails },
            ledger: { delivered: deliveredBefore },
            options: { window, batchMessages, stageConcurrency, preserve, maxMessageBytes: 20_000, bufferBytes: 8 * 1024 },
          });
          if (outcome.error) expect(outcome.error).toBeInstanceOf(RetrievalError);
          expect(outcome.error instanceof Pop3ReplyError).toBe(false);
          expect(outcome.transport.maxOutstanding).toBeLessThanOrEqual(window);
          if (preserve) expect(numbersOf(outcome.transport.commands, 'DELE')).toEqual([]);
          assertNoUnsafeDele(outcome, messages, deliveredBefore);
          // Nothing published twice, nothing published after a discard (FakeSink throws on both),
          // and a message marked delivered was really published (or settled before).
          const publishedUidls = new Set([...outcome.sink.published.values()].map((r) => r.meta.uidl));
          for (const uidl of outcome.ledger.delivered) expect(publishedUidls.has(uidl) || deliveredBefore.has(uidl)).toBe(true);
          // Already delivered messages are never fetched again.
          for (const n of numbersOf(outcome.transport.commands, 'RETR')) expect(deliveredBefore.has(messages[n - 1]!.uidl)).toBe(false);
        },
      ),
      { numRuns: 300, seed: 20251123 },
    );
  });
});

