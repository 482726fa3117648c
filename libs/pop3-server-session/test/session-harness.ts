/** Drives the server machine without sockets: fake I/O, fake Directory and store via provide(). */
import { createActor, fromPromise, waitFor } from 'xstate';
import type { AuthResult, Credentials } from '@mailnode/directory';
import { DirectoryUnavailableError } from '@mailnode/directory';
import type { MailboxSession, MessageContent, StoredMessage } from '@mailnode/message-store';
import { encodeMessage, parseCommand } from '@mailnode/pop3-protocol';
import type { AuthType } from '@mailnode/config';
import { AUTH_TYPES } from '@mailnode/config';
import { pop3ServerMachine } from '../src/server-machine.ts';
import { resolveAuthPolicy, type ListenerSecurity } from '../src/auth-policy.ts';
import { isVerb, type SessionEffects, type SessionEvent, type SessionIO, type SessionInput, type WireOptions } from '../src/session-types.ts';

export const CHALLENGE = '<1896.697170952@dbc.mtview.ca.us>';

export interface FakeMessage {
  uidl: string;
  body: string;
}

export class FakeIO implements SessionIO {
  out: string[] = [];
  closed = false;
  tlsStarted = 0;
  write(text: string) {
    this.out.push(text);
  }
  /** How each message went out: 'now' (within the command's turn) or 'later' (through sending). */
  sends: ('now' | 'later')[] = [];
  async sendMessage(status: string, content: MessageContent, options: WireOptions) {
    if (content.kind !== 'buffer') throw new Error('test store returns buffers');
    this.sends.push('later');
    this.out.push(status + encodeMessage(content.data, options).toString('latin1'));
  }
  /** sendMessageNow answers that the connection takes no more output after this many messages. */
  takesMore = Infinity;
  sendMessageNow(status: string, data: Buffer, options: WireOptions) {
    this.sends.push('now');
    this.out.push(status + encodeMessage(data, options).toString('latin1'));
    return this.sends.filter((how) => how === 'now').length < this.takesMore;
  }
  flushes = 0;
  async flush() {
    this.flushes++;
  }
  async startTls() {
    this.tlsStarted++;
    return { clientName: 'alice' };
  }
  close() {
    this.closed = true;
  }
  /** Everything written since the last call. */
  take(): string {
    const text = this.out.join('');
    this.out = [];
    return text;
  }
}

export interface HarnessOptions {
  security?: ListenerSecurity;
  authtypes?: AuthType[];
  authtypesSsl?: AuthType[];
  messages?: FakeMessage[];
  expire?: number;
  openError?: Error;
  authError?: Error;
  badCommands?: number;
  authFailures?: number;
  /** The store cannot read at once (readNow answers undefined): every RETR goes the slow way. */
  noReadNow?: boolean;
  /** Messages (0-based) the store cannot read at once. */
  notNow?: number[];
}

/** Alice's password is pw-alice; bob's stored secret is a hash (APOP/CRAM unavailable). */
async function authenticate(credentials: Credentials): Promise<AuthResult> {
  const user = credentials.username.toLowerCase();
  if (credentials.mechanism === 'PASSWORD') {
    if ((user === 'alice' && credentials.password === 'pw-alice') || (user === 'bob' && credentials.password === 'pw bob')) {
      return { ok: true, user: { name: user, canLogin: true } };
    }
    return { ok: false, reason: 'bad-credentials' };
  }
  if (credentials.mechanism === 'EXTERNAL') return user === 'alice' ? { ok: true, user: { name: user, canLogin: true } } : { ok: false, reason: 'bad-credentials' };
  if (user === 'bob') return { ok: false, reason: 'mechanism-unavailable' };
  const { createHash, createHmac } = await import('node:crypto');
  const expected =
    credentials.mechanism === 'APOP'
      ? createHash('md5').update(credentials.timestamp + 'pw-alice').digest('hex')
      : createHmac('md5', 'pw-alice').update(credentials.challenge).digest('hex');
  return user === 'alice' && credentials.digest === expected ? { ok: true, user: { name: user, canLogin: true } } : { ok: false, reason: 'bad-credentials' };
}

export function startSession(options: HarnessOptions = {}) {
  const io = new FakeIO();
  const messages: StoredMessage[] = (options.messages ?? []).map((m) => ({
    uidl: m.uidl,
    size: Buffer.byteLength(m.body),
    wireSize: encodeMessage(Buffer.from(m.body)).length - 3,
  }));
  const calls = { commit: [] as number[][], release: 0, opened: 0 };
  const mailbox: MailboxSession = {
    user: 'alice',
    messages,
    read: async (index) => ({ kind: 'buffer', data: Buffer.from(options.messages![index]!.body) }),
    readNow: (index) => (options.noReadNow || options.notNow?.includes(index) ? undefined : Buffer.from(options.messages![index]!.body)),
    commit: async (deleted) => {
      calls.commit.push([...deleted].sort((a, b) => a - b));
      return { deleted: deleted.size, missing: 0 };
    },
    release: async () => {
      calls.release++;
    },
  };
  const machine = pop3ServerMachine.provide({
    actors: {
      verifyCredentials: fromPromise(async ({ input }: { input: { credentials: Credentials } }) => {
        if (options.authError) throw options.authError;
        return authenticate(input.credentials);
      }),
      openMailbox: fromPromise(async () => {
        if (options.openError) throw options.openError;
        calls.opened++;
        return mailbox;
      }),
      commitUpdate: fromPromise(async ({ input }: { input: { mailbox: MailboxSession; deleted: ReadonlySet<number> } }) => input.mailbox.commit(input.deleted)),
      startTls: fromPromise(async ({ input }: { input: { io: SessionIO } }) => input.io.startTls()),
    },
  });
  const security = options.security ?? 'none';
  const authtypes = new Set<AuthType>(options.authtypes ?? AUTH_TYPES);
  const input: SessionInput = {
    sessionId: 't1',
    io,
    log: { info() {}, warn() {}, debug() {} },
    greet: 'test POP3 Ready',
    challenge: CHALLENGE,
    policy: resolveAuthPolicy(authtypes, options.authtypesSsl ? new Set(options.authtypesSsl) : undefined, security),
    security,
    tlsActive: security === 'implicit',
    clientCertificates: false,
    expire: options.expire ?? -1,
    limits: { badCommands: options.badCommands ?? 10, authFailures: options.authFailures ?? 3, authFailureDelayMs: 0 },
    wire: { outlookNoNuls: false, addMissingEoh: false },
    implementation: 'mailnode-test',
  };
  const states: string[] = [];
  const actor = createActor(machine, { input });
  actor.subscribe((snapshot) => states.push(JSON.stringify(snapshot.value)));
  actor.start();

  /** Sends one client line the way the connection does, and waits until the session is ready again. */
  async function send(line: string): Promise<string> {
    const snapshot = actor.getSnapshot();
    let event: SessionEvent;
    if (snapshot.hasTag('sasl')) event = { type: 'SASL_RESPONSE', line };
    else {
      const parsed = parseCommand(line);
      event = !parsed.ok ? { type: 'BAD_LINE', reason: parsed.error } : isVerb(parsed.verb) ? { type: parsed.verb, args: parsed.args, rest: parsed.rest } : { type: 'UNKNOWN', verb: parsed.verb };
    }
    actor.send(event);
    await settle();
    return io.take();
  }

  async function settle(): Promise<void> {
    await waitFor(actor, (s) => s.status !== 'active' || s.hasTag('ready'), { timeout: 2000 });
  }

  return { actor, io, calls, states, send, settle, raw: (event: SessionEvent) => actor.send(event) };
}

export const directoryDown = () => new DirectoryUnavailableError('ldap down');
