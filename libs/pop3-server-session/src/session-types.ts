/** What a server session needs from the outside (ports), what it is given, and what it hears. */
import type { AuthResult, Credentials } from '@mailnode/directory';
import type { CommitResult, MailboxSession, MessageContent, StoredMessage } from '@mailnode/message-store';
import type { AuthPolicy, ListenerSecurity } from './auth-policy.ts';
import type { SaslState, SaslStep } from './sasl-exchange.ts';

/** Options for turning a stored message into wire format. */
export interface WireOptions {
  readonly bodyLines?: number;
  readonly outlookNoNuls: boolean;
  readonly addMissingEoh: boolean;
}

/** The connection as the session sees it. Implemented over a socket by the Listener app. */
export interface SessionIO {
  write(text: string): void;
  /**
   * Writes the status line and the encoded message. A small message may be held back to leave
   * together with the next ones; flush() sends whatever is held.
   */
  sendMessage(status: string, content: MessageContent, options: WireOptions): Promise<void>;
  /**
   * Writes the status line and a whole message already read, encoded, with whatever replies are
   * pending: the answer to a RETR within its turn. Returns whether the connection takes more
   * output now; when not, the session waits in flush() before it takes the next command.
   */
  sendMessageNow(status: string, data: Buffer, options: WireOptions): boolean;
  /** Sends what sendMessage held back; resolves once the socket can take more. */
  flush(): Promise<void>;
  /** Answer already sent; upgrade the socket, dropping any plaintext the client pipelined. */
  startTls(): Promise<{ clientName?: string }>;
  /** Flush what was written and close. */
  close(): void;
}

export interface SessionLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export interface SessionLimits {
  readonly badCommands: number;
  readonly authFailures: number;
  readonly authFailureDelayMs: number;
}

export interface SessionInput {
  readonly sessionId: string;
  readonly io: SessionIO;
  readonly log: SessionLog;
  readonly greet: string;
  /** `<random.time@host>`: APOP timestamp and CRAM-MD5 challenge. */
  readonly challenge: string;
  readonly policy: AuthPolicy;
  readonly security: ListenerSecurity;
  /** Implicit TLS: the connection is already encrypted. */
  readonly tlsActive: boolean;
  /** Common Name of a verified client certificate (implicit TLS). */
  readonly clientName?: string;
  /** The listener asks for client certificates (SASL EXTERNAL possible). */
  readonly clientCertificates: boolean;
  readonly expire: number;
  readonly limits: SessionLimits;
  readonly wire: Omit<WireOptions, 'bodyLines'>;
  readonly implementation: string;
}

export interface SessionContext extends SessionInput {
  tlsActive: boolean;
  clientName?: string;
  pendingUser?: string;
  sasl?: SaslState;
  saslStep?: SaslStep;
  credentials?: Credentials;
  failureReply?: string;
  badCommands: number;
  authFailures: number;
  user?: string;
  /** The store's name for the user's mailbox: the Directory's mailbox location, else the user name. */
  mailboxKey?: string;
  mailbox?: MailboxSession;
  messages: readonly StoredMessage[];
  deleted: ReadonlySet<number>;
  /** Messages sent with RETR, deleted at UPDATE when expire is 0. */
  retrieved: ReadonlySet<number>;
}

/** One RETR or TOP to answer: a message to send, or the -ERR line for a bad number. */
export type TransferStep = { readonly index: number; readonly bodyLines?: number } | { readonly reply: string };

export const COMMAND_VERBS = ['USER', 'PASS', 'APOP', 'AUTH', 'STLS', 'CAPA', 'QUIT', 'NOOP', 'STAT', 'LIST', 'UIDL', 'RETR', 'TOP', 'DELE', 'RSET'] as const;
export type Verb = (typeof COMMAND_VERBS)[number];

export interface CommandEvent {
  readonly type: Verb;
  readonly args: readonly string[];
  /** The line after the verb and one space, unmodified (PASS may hold spaces). */
  readonly rest: string;
}

export type SessionEvent =
  | CommandEvent
  | { readonly type: 'UNKNOWN'; readonly verb: string }
  | { readonly type: 'BAD_LINE'; readonly reason: 'too-long' | 'bad-chars' | 'empty' | 'bad-verb' }
  | { readonly type: 'SASL_RESPONSE'; readonly line: string }
  /**
   * Pipelined `RETR n` commands that followed each other in the input, handed over as one event
   * (the connection batches them); answered in order exactly as the single commands would be.
   */
  | { readonly type: 'RETR_RUN'; readonly items: readonly (readonly string[])[] }
  /** RETR/TOP steps the session could not answer at once (see transferNow): the slow way. */
  | { readonly type: 'TRANSFER_LATER'; readonly steps: readonly TransferStep[] }
  /** `sent`: indexes of the messages sent in full by RETR (not TOP), for expire 0. */
  | { readonly type: 'TRANSFER_DONE'; readonly sent: readonly number[] }
  | { readonly type: 'TRANSFER_FAILED'; readonly error: unknown }
  | { readonly type: 'TIMEOUT' }
  | { readonly type: 'DISCONNECTED' }
  | { readonly type: 'SHUTDOWN' };

export function isVerb(word: string): word is Verb {
  return (COMMAND_VERBS as readonly string[]).includes(word);
}

/** Inputs and outputs of the session's effect actors (implemented by the Listener app). */
export interface SessionEffects {
  verifyCredentials: { input: { credentials: Credentials }; output: AuthResult };
  openMailbox: { input: { user: string }; output: MailboxSession };
  commitUpdate: { input: { mailbox: MailboxSession; deleted: ReadonlySet<number> }; output: CommitResult };
  startTls: { input: { io: SessionIO }; output: { clientName?: string } };
}
