/**
 * In-memory stand-ins for the client session's ports: a scripted POP3 server behind a
 * Pop3Transport (no sockets), a DeliverySink and a UidlLedger. All three write to one shared
 * event log, so tests can assert the order of effects (RETR → stage → pending → publish →
 * delivered → DELE).
 */
import { parseStatusLine, encodeBase64 } from '@mailnode/pop3-protocol';
import { RetrievalError, type ClientLog, type DeliveryMeta, type DeliverySink, type Pop3Transport, type StagedDelivery, type UidlLedger } from '../src/index.ts';

export type Reply =
  | { readonly kind: 'status'; readonly line: string }
  /** Body of a multi-line reply, already un-stuffed, in the chunks readBody hands out. */
  | { readonly kind: 'body'; readonly chunks: readonly Buffer[] }
  /** The next read (status or body) fails with this error (a dropped connection, a timeout). */
  | { readonly kind: 'fail'; readonly error: Error };

export const status = (line: string): Reply => ({ kind: 'status', line });
export const body = (data: Buffer | string, chunkSize = 0): Reply => {
  const buffer = Buffer.isBuffer(data) ? data : Buffer.from(data, 'latin1');
  if (chunkSize <= 0 || buffer.length <= chunkSize) return { kind: 'body', chunks: buffer.length ? [buffer] : [] };
  const chunks: Buffer[] = [];
  for (let at = 0; at < buffer.length; at += chunkSize) chunks.push(buffer.subarray(at, at + chunkSize));
  return { kind: 'body', chunks };
};
export const fail = (message: string): Reply => ({ kind: 'fail', error: new RetrievalError('download', message) });

export type Handler = (command: string) => readonly Reply[] | undefined;

/** A Pop3Transport whose "server" is a function from command to replies. */
export class FakeTransport implements Pop3Transport {
  readonly commands: string[] = [];
  /** Commands sent whose status line the client has not read yet. */
  outstanding = 0;
  maxOutstanding = 0;
  /** maxOutstanding per command verb (RETR, DELE, ...). */
  readonly maxOutstandingByVerb = new Map<string, number>();
  closed = false;
  secure = false;
  hasClientCertificate = false;
  tlsStarted = 0;
  /** When set, startTls() rejects with it (a failed handshake). */
  tlsFailure: Error | undefined;
  private readonly queue: Reply[] = [];
  private readonly verbs: string[] = [];
  /** After a 'fail' reply the connection is gone: every later read fails too. */
  private dead: Error | undefined;

  constructor(
    private readonly handler: Handler,
    private readonly events: string[] = [],
  ) {}

  send(line: string): void {
    if (this.closed) throw new Error('send() after close()');
    this.commands.push(line);
    this.events.push(`C:${line}`);
    this.outstanding++;
    const verb = line.split(' ')[0]!.toUpperCase();
    this.verbs.push(verb);
    const inFlight = this.verbs.filter((v) => v === verb).length;
    this.maxOutstanding = Math.max(this.maxOutstanding, this.outstanding);
    this.maxOutstandingByVerb.set(verb, Math.max(this.maxOutstandingByVerb.get(verb) ?? 0, inFlight));
    this.queue.push(...(this.handler(line) ?? []));
  }

  async readStatus() {
    await Promise.resolve();
    if (this.dead) throw this.dead;
    const reply = this.queue.shift();
    if (!reply) throw new RetrievalError('download', 'fake server: the client waits for a reply to nothing');
    if (reply.kind === 'fail') throw (this.dead = reply.error);
    if (reply.kind !== 'status') throw new Error(`fake server: client read a status line where a ${reply.kind} comes`);
    this.outstanding--;
    this.verbs.shift();
    const parsed = parseStatusLine(reply.line);
    if (!parsed) throw new RetrievalError('download', `malformed reply from server: ${JSON.stringify(reply.line)}`);
    return parsed as Exclude<typeof parsed, null>;
  }

  async readBody(sink: (chunk: Buffer) => void | Promise<void>, maxBytes: number): Promise<number> {
    await Promise.resolve();
    if (this.dead) throw this.dead;
    const reply = this.queue.shift();
    if (!reply) throw new RetrievalError('download', 'fake server: no body queued');
    if (reply.kind === 'fail') throw (this.dead = reply.error);
    if (reply.kind !== 'body') throw new Error(`fake server: client read a body where a ${reply.kind} comes`);
    let total = 0;
    for (const chunk of reply.chunks) {
      total += chunk.length;
      if (total > maxBytes) throw new RetrievalError('download', `message larger than ${maxBytes} bytes; giving up on this server`);
      await sink(chunk);
    }
    return total;
  }

  async startTls(): Promise<void> {
    this.tlsStarted++;
    this.events.push('TLS');
    if (this.tlsFailure) throw this.tlsFailure;
    this.secure = true;
  }

  close(): void {
    this.closed = true;
    this.events.push('CLOSE');
  }
}

// ---- a scripted POP3 mailbox ------------------------------------------------------------------

export interface FakeMessage {
  /** Wire form (CRLF), un-stuffed. */
  readonly data: Buffer;
  readonly uidl?: string;
  /** What LIST says (default: the real size). */
  readonly listedSize?: number;
}

export interface MailboxScript {
  readonly messages: readonly FakeMessage[];
  /** CAPA lines; null answers -ERR. Default: TOP, UIDL, USER. */
  readonly capa?: readonly string[] | null;
  /** Answer to STLS (default +OK). */
  readonly stls?: string;
  /** Final answer per login method (USERPASS = the PASS reply); default +OK. */
  readonly login?: Partial<Record<'USERPASS' | 'APOP' | 'SASL_PLAIN' | 'SASL_LOGIN' | 'SASL_CRAM_MD5' | 'SASL_EXTERNAL', string>>;
  /** UIDL answers -ERR (a server without UIDL). */
  readonly noUidl?: boolean;
  /** Replace the reply to RETR n (status + body), e.g. [status('-ERR gone')] or a failure. */
  readonly retr?: (n: number) => readonly Reply[] | undefined;
  /** Reply to DELE n (default +OK). */
  readonly dele?: (n: number) => string;
  /** Reply to QUIT (default +OK). */
  readonly quit?: string;
  /** Body chunk size for RETR (0: one chunk). */
  readonly chunkSize?: number;
}

export const CRAM_CHALLENGE = '<1896.697170952@fake.example>';

/** A POP3 server model behind FakeTransport: enough of RFC 1939/2449/5034 for the client. */
export function scriptedMailbox(script: MailboxScript): Handler {
  let sasl: { mechanism: string; step: number } | undefined;
  const ok = (text = '') => status(text ? `+OK ${text}` : '+OK');
  return (line) => {
    if (sasl) {
      const { mechanism } = sasl;
      sasl.step++;
      if (mechanism === 'LOGIN' && sasl.step === 1) return [status(`+ ${encodeBase64('Password:')}`)];
      sasl = undefined;
      const method = mechanism === 'LOGIN' ? 'SASL_LOGIN' : mechanism === 'CRAM-MD5' ? 'SASL_CRAM_MD5' : mechanism === 'PLAIN' ? 'SASL_PLAIN' : 'SASL_EXTERNAL';
      return [status(script.login?.[method] ?? '+OK logged in')];
    }
    const [verb = '', ...args] = line.split(' ');
    const n = Number(args[0]);
    const message = script.messages[n - 1];
    switch (verb.toUpperCase()) {
      case 'CAPA':
        if (script.capa === null) return [status('-ERR no CAPA')];
        return [ok('capability list follows'), body(`${(script.capa ?? ['TOP', 'UIDL', 'USER']).map((c) => `${c}\r\n`).join('')}`)];
      case 'STLS':
        return [status(script.stls ?? '+OK begin TLS')];
      case 'USER':
        return [ok()];
      case 'PASS':
        return [status(script.login?.USERPASS ?? '+OK logged in')];
      case 'APOP':
        return [status(script.login?.APOP ?? '+OK logged in')];
      case 'AUTH': {
        const mechanism = (args[0] ?? '').toUpperCase();
        const method = mechanism === 'LOGIN' ? 'SASL_LOGIN' : mechanism === 'CRAM-MD5' ? 'SASL_CRAM_MD5' : mechanism === 'PLAIN' ? 'SASL_PLAIN' : 'SASL_EXTERNAL';
        if (args.length > 1) return [status(script.login?.[method] ?? '+OK logged in')];
        sasl = { mechanism, step: 0 };
        if (mechanism === 'LOGIN') return [status(`+ ${encodeBase64('Username:')}`)];
        if (mechanism === 'CRAM-MD5') return [status(`+ ${encodeBase64(CRAM_CHALLENGE)}`)];
        return [status('+ ')];
      }
      case 'LIST':
        return [ok(`${script.messages.length} messages`), body(script.messages.map((m, i) => `${i + 1} ${m.listedSize ?? m.data.length}\r\n`).join(''))];
      case 'UIDL':
        if (script.noUidl) return [status('-ERR no UIDL here')];
        return [ok(), body(script.messages.flatMap((m, i) => (m.uidl ? [`${i + 1} ${m.uidl}\r\n`] : [])).join(''))];
      case 'RETR': {
        const custom = script.retr?.(n);
        if (custom) return custom;
        if (!message) return [status('-ERR no such message')];
        return [ok(`${message.data.length} octets`), body(message.data, script.chunkSize ?? 0)];
      }
      case 'DELE':
        return [status(script.dele?.(n) ?? '+OK deleted')];
      case 'QUIT':
        return [status(script.quit ?? '+OK bye')];
      default:
        return [status('-ERR unknown command')];
    }
  };
}

/** A message in wire form with a Message-ID, `size` bytes or more. */
export function wireMessage(i: number, size = 200): Buffer {
  const head = `From: a@example.org\r\nTo: b@example.org\r\nSubject: message ${i}\r\nMessage-ID: <m${i}@fake.example>\r\n\r\n`;
  let text = head;
  let line = 0;
  while (text.length < size) text += `line ${line++} of message ${i}\r\n`;
  return Buffer.from(text, 'latin1');
}

export function mailbox(count: number, options: { size?: number; uidl?: (i: number) => string | undefined } = {}): FakeMessage[] {
  return Array.from({ length: count }, (_, k) => ({ data: wireMessage(k + 1, options.size), uidl: options.uidl ? options.uidl(k + 1) : `u${k + 1}` }));
}

// ---- sink and ledger ---------------------------------------------------------------------------

export interface SinkScript {
  /** prepare() rejects with this. */
  readonly prepareError?: Error;
  /** stage() of this UIDL rejects. */
  readonly stageFails?: (meta: DeliveryMeta) => boolean;
  /** publish() rejects (on call number k, 1-based; every call when true). */
  readonly publishFails?: boolean | number;
  /** What resolvePending answers per ref (default not-delivered). */
  readonly pending?: Record<string, 'delivered' | 'not-delivered'>;
}

export interface StageRecord {
  readonly meta: DeliveryMeta;
  /** Whether the sink got an AsyncIterable (streamed) rather than one Buffer. */
  readonly streamed: boolean;
  readonly data: Buffer;
  readonly ref: string;
}

export class FakeSink implements DeliverySink {
  prepared = 0;
  readonly staged: StageRecord[] = [];
  /** Published messages, by ref. */
  readonly published = new Map<string, StageRecord>();
  readonly discarded: string[] = [];
  readonly resolved: string[] = [];
  private publishCalls = 0;
  private counter = 0;

  constructor(
    private readonly events: string[] = [],
    private readonly script: SinkScript = {},
  ) {}

  async prepare(): Promise<void> {
    this.prepared++;
    this.events.push('prepare');
    if (this.script.prepareError) throw this.script.prepareError;
  }

  async stage(source: AsyncIterable<Buffer> | Buffer, meta: DeliveryMeta): Promise<StagedDelivery> {
    const streamed = !Buffer.isBuffer(source);
    let data: Buffer;
    if (Buffer.isBuffer(source)) data = source;
    else {
      const chunks: Buffer[] = [];
      for await (const chunk of source) chunks.push(chunk);
      data = Buffer.concat(chunks);
    }
    if (this.script.stageFails?.(meta)) {
      this.events.push(`stage-failed:${meta.uidl}`);
      throw new Error(`disk full while staging ${meta.uidl}`);
    }
    const ref = `ref-${++this.counter}-${meta.uidl}`;
    this.staged.push({ meta, streamed, data, ref });
    this.events.push(`stage:${meta.uidl}`);
    return { uidl: meta.uidl, bytes: data.length, ref };
  }

  async publish(staged: readonly StagedDelivery[]): Promise<void> {
    this.publishCalls++;
    const fails = this.script.publishFails;
    if (fails === true || fails === this.publishCalls) {
      this.events.push(`publish-failed:${staged.map((s) => s.uidl).join(',')}`);
      throw new Error('cannot link into new/: EIO');
    }
    for (const item of staged) {
      const record = this.staged.find((s) => s.ref === item.ref);
      if (!record) throw new Error(`publish of unknown ref ${item.ref}`);
      if (this.published.has(item.ref)) throw new Error(`ref ${item.ref} published twice`);
      if (this.discarded.includes(item.ref)) throw new Error(`ref ${item.ref} published after discard`);
      this.published.set(item.ref, record);
    }
    this.events.push(`publish:${staged.map((s) => s.uidl).join(',')}`);
  }

  async discard(staged: readonly StagedDelivery[]): Promise<void> {
    for (const item of staged) this.discarded.push(item.ref);
    this.events.push(`discard:${staged.map((s) => s.uidl).join(',')}`);
  }

  async resolvePending(ref: string): Promise<'delivered' | 'not-delivered'> {
    this.resolved.push(ref);
    this.events.push(`resolve:${ref}`);
    return this.script.pending?.[ref] ?? 'not-delivered';
  }

  describe(): string {
    return 'fake';
  }
}

export class FakeLedger implements UidlLedger {
  readonly delivered: Set<string>;
  readonly pending: Map<string, string>;
  compacted: ReadonlySet<string> | undefined;
  loads = 0;

  constructor(
    private readonly events: string[] = [],
    initial: { delivered?: Iterable<string>; pending?: Iterable<[string, string]> } = {},
  ) {
    this.delivered = new Set(initial.delivered ?? []);
    this.pending = new Map(initial.pending ?? []);
  }

  async load() {
    this.loads++;
    return { delivered: new Set(this.delivered), pending: new Map(this.pending) };
  }

  async markPending(entries: ReadonlyArray<{ uidl: string; ref: string }>): Promise<void> {
    for (const { uidl, ref } of entries) this.pending.set(uidl, ref);
    this.events.push(`pending:${entries.map((e) => e.uidl).join(',')}`);
  }

  async markDelivered(uidls: readonly string[]): Promise<void> {
    for (const uidl of uidls) {
      this.delivered.add(uidl);
      this.pending.delete(uidl);
    }
    this.events.push(`delivered:${uidls.join(',')}`);
  }

  async compact(onServer: ReadonlySet<string>): Promise<void> {
    this.compacted = new Set(onServer);
    for (const uidl of [...this.delivered]) if (!onServer.has(uidl)) this.delivered.delete(uidl);
    this.events.push('compact');
  }
}

export interface LogRecord {
  readonly level: 'info' | 'warn' | 'debug';
  readonly obj: object;
  readonly msg?: string;
}

export class MemoryLog implements ClientLog {
  readonly records: LogRecord[] = [];
  info(obj: object, msg?: string): void {
    this.records.push({ level: 'info', obj, msg });
  }
  warn(obj: object, msg?: string): void {
    this.records.push({ level: 'warn', obj, msg });
  }
  debug(obj: object, msg?: string): void {
    this.records.push({ level: 'debug', obj, msg });
  }
}

/** Numbers of the messages a command verb was sent for, in order. */
export function numbersOf(commands: readonly string[], verb: string): number[] {
  return commands.filter((c) => c.startsWith(`${verb} `)).map((c) => Number(c.split(' ')[1]));
}
