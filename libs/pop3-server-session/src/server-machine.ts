/**
 * One POP3 server session (RFC 1939, 2449, 2595, 3206, 5034) as an XState v5 machine:
 * AUTHORIZATION → TRANSACTION → UPDATE. The states decide which verbs are allowed; every side
 * effect (socket, directory, store) is a named actor or action, replaced with provide().
 */
import { MailboxLockedError, MessageGoneError, type MailboxSession } from '@mailnode/message-store';
import { DirectoryUnavailableError, type DirectoryUser } from '@mailnode/directory';
import { errLine, formatCapa, okLine } from '@mailnode/pop3-protocol';
import { assign, fromPromise, setup, type ActorRefFrom } from 'xstate';
import { decideAuth, isSaslMechanism, offersStls, SASL_MECHANISMS, saslMechanismsNow, type SaslMechanism } from './auth-policy.ts';
import { capabilities } from './capabilities.ts';
import { totals } from './commands/maildrop.ts';
import { resolveTransfer, transactionCommands, type TransactionHandler, type TransactionVerb } from './commands/transaction-commands.ts';
import { continueSasl, startSasl } from './sasl-exchange.ts';
import { transferNow, transferSteps } from './transfer.ts';
import type { CommandEvent, SessionContext, SessionEffects, SessionEvent, SessionInput } from './session-types.ts';
import type { AuthType } from '@mailnode/config';

const notProvided = (name: string) =>
  fromPromise<never, unknown>(async () => {
    throw new Error(`session effect '${name}' was not provided`);
  });

function effect<K extends keyof SessionEffects>(name: K) {
  return notProvided(name) as unknown as ReturnType<typeof fromPromise<SessionEffects[K]['output'], SessionEffects[K]['input']>>;
}

/** Why a login method cannot be used now, as the -ERR line to send; undefined when it can. */
function authRefusal(context: SessionContext, type: AuthType, label: string): string | undefined {
  const decision = decideAuth(context.policy, type, context.tlsActive);
  if (decision === 'allowed') return undefined;
  if (decision === 'needs-tls') return errLine(`${label} is not allowed without TLS; use STLS first`, 'AUTH');
  return errLine(`${label} is disabled on this server`, 'AUTH');
}

const command = (event: SessionEvent) => event as CommandEvent;

function errorReply(error: unknown): string {
  if (error instanceof MailboxLockedError) return errLine('Mailbox is locked by another POP3 session', 'IN-USE');
  if (error instanceof DirectoryUnavailableError) return errLine('Directory temporarily unavailable, try again later', 'SYS/TEMP');
  return errLine('Temporary server failure, try again later', 'SYS/TEMP');
}

export const pop3ServerMachine = setup({
  types: {
    context: {} as SessionContext,
    events: {} as SessionEvent,
    input: {} as SessionInput,
  },
  actors: {
    verifyCredentials: effect('verifyCredentials'),
    openMailbox: effect('openMailbox'),
    commitUpdate: effect('commitUpdate'),
    startTls: effect('startTls'),
  },
  delays: {
    authFailureDelay: ({ context }) => context.limits.authFailureDelayMs,
  },
  guards: {
    userPassAllowed: ({ context }) => authRefusal(context, 'USERPASS', 'USER/PASS') === undefined,
    hasPendingUser: ({ context }) => context.pendingUser !== undefined,
    apopAllowed: ({ context }) => authRefusal(context, 'APOP', 'APOP') === undefined,
    tooManyBadCommands: ({ context }) => context.badCommands + 1 >= context.limits.badCommands,
    tooManyAuthFailures: ({ context }) => context.authFailures >= context.limits.authFailures,
    stlsPossible: ({ context }) => offersStls(context.security) && !context.tlsActive,
    saslChallenge: ({ context }) => context.saslStep?.kind === 'challenge',
    saslCredentials: ({ context }) => context.saslStep?.kind === 'credentials',
    saslAuthFailure: ({ context }) => context.saslStep?.kind === 'fail' && context.saslStep.authFailure,
    authOk: (_, params: { ok: boolean }) => params.ok,
  },
  actions: {
    reply: ({ context }, params: { text: string }) => context.io.write(params.text),
    greet: ({ context }) => {
      const apop = decideAuth(context.policy, 'APOP', context.tlsActive) !== 'disabled';
      context.io.write(okLine(apop ? `${context.greet} ${context.challenge}` : context.greet));
    },
    replyCapa: ({ context }) =>
      context.io.write(
        formatCapa(
          capabilities({
            policy: context.policy,
            tlsActive: context.tlsActive,
            stlsAvailable: offersStls(context.security),
            clientCertificate: context.clientName !== undefined,
            loggedIn: context.user !== undefined,
            expire: context.expire,
            implementation: context.implementation,
          }),
        ),
      ),
    replyBadCommand: ({ context, event }) => {
      const text =
        event.type === 'BAD_LINE'
          ? event.reason === 'too-long'
            ? 'Command line too long'
            : 'Malformed command'
          : event.type === 'UNKNOWN'
            ? `Unknown command: ${event.verb.slice(0, 16)}`
            : event.type === 'SASL_RESPONSE'
              ? 'Unexpected SASL response'
              : `${event.type} is not allowed ${context.user === undefined ? 'before login' : 'after login'}`;
      context.io.write(errLine(text));
    },
    countBadCommand: assign({ badCommands: ({ context }) => context.badCommands + 1 }),
    forgetPendingUser: assign({ pendingUser: undefined }),
    rememberUser: assign({ pendingUser: ({ event }) => command(event).args[0] }),
    replyUserRefused: ({ context, event }) => {
      const refusal = authRefusal(context, 'USERPASS', 'USER/PASS');
      context.io.write(refusal ?? errLine(command(event).args.length === 0 ? 'USER needs a name' : 'Bad USER'));
    },
    passCredentials: assign({
      credentials: ({ context, event }) => ({ mechanism: 'PASSWORD' as const, username: context.pendingUser!, password: command(event).rest }),
      pendingUser: undefined,
    }),
    apopCredentials: assign({
      credentials: ({ context, event }) => ({
        mechanism: 'APOP' as const,
        username: command(event).args[0] ?? '',
        timestamp: context.challenge,
        digest: (command(event).args[1] ?? '').toLowerCase(),
      }),
    }),
    replyAuthList: ({ context }) => {
      const names = saslMechanismsNow(context.policy, context.tlsActive, context.clientName !== undefined);
      context.io.write(okLine('Available mechanisms') + names.map((name) => `${name}\r\n`).join('') + '.\r\n');
    },
    startSasl: assign(({ context, event }) => {
      const name = (command(event).args[0] ?? '').toUpperCase();
      const initial = command(event).args[1];
      if (!isSaslMechanism(name)) {
        return { saslStep: { kind: 'fail' as const, reply: errLine(`Unsupported authentication mechanism ${name.slice(0, 20)}`), authFailure: false } };
      }
      const refusal = authRefusal(context, SASL_MECHANISMS[name as SaslMechanism], name);
      if (refusal) return { saslStep: { kind: 'fail' as const, reply: refusal, authFailure: false } };
      return { saslStep: startSasl(name, initial, { challenge: context.challenge, clientName: context.clientName }) };
    }),
    continueSasl: assign({
      saslStep: ({ context, event }) =>
        continueSasl(context.sasl!, (event as { line: string }).line, { challenge: context.challenge, clientName: context.clientName }),
    }),
    sendChallenge: assign(({ context }) => {
      const step = context.saslStep as Extract<SessionContext['saslStep'], { kind: 'challenge' }>;
      context.io.write(`+ ${step.challenge}\r\n`);
      return { sasl: step.state };
    }),
    takeSaslCredentials: assign(({ context }) => {
      const step = context.saslStep as Extract<SessionContext['saslStep'], { kind: 'credentials' }>;
      return { credentials: step.credentials, sasl: undefined, saslStep: undefined };
    }),
    replySaslFailure: assign(({ context }) => {
      const step = context.saslStep as Extract<SessionContext['saslStep'], { kind: 'fail' }>;
      context.io.write(step.reply);
      return { sasl: undefined, saslStep: undefined };
    }),
    prepareFailure: assign({
      failureReply: (_, params: { reply: string }) => params.reply,
      authFailures: ({ context }) => context.authFailures + 1,
      credentials: undefined,
    }),
    replyFailure: ({ context }) => context.io.write(context.failureReply ?? errLine('Authentication failed', 'AUTH')),
    logLoginFailure: ({ context }) =>
      context.log.info({ user: context.credentials?.username, mechanism: context.credentials?.mechanism }, 'login failed'),
    acceptUser: assign(({ event }) => {
      const { user } = (event as unknown as { output: { ok: true; user: DirectoryUser } }).output;
      return { user: user.name, mailboxKey: user.mailbox ?? user.name, credentials: undefined };
    }),
    takeMailbox: assign(({ context, event }) => {
      const mailbox = (event as unknown as { output: MailboxSession }).output;
      context.log.info({ user: context.user, messages: mailbox.messages.length }, 'logged in');
      return { mailbox, messages: mailbox.messages, deleted: new Set<number>(), retrieved: new Set<number>() };
    }),
    replyLoggedIn: ({ context }) => {
      const { count, octets } = totals(context);
      context.io.write(okLine(`Logged in, ${count} messages (${octets} octets)`));
    },
    replyOpenFailure: ({ context, event }) => {
      const error = (event as unknown as { error: unknown }).error;
      context.log.warn({ user: context.user, err: error }, 'cannot open mailbox');
      context.io.write(errorReply(error));
    },
    forgetUser: assign({ user: undefined, mailboxKey: undefined }),
    replyTempFailure: ({ context, event }) => {
      const error = (event as unknown as { error: unknown }).error;
      context.log.warn({ err: error }, 'backend failure during login');
      context.io.write(errorReply(error));
    },
    // Not an assign: DELE and RSET change this session's own mark set in place, and the other
    // verbs change nothing, so no context copy per command.
    runTransactionCommand: ({ context, event }) => {
      const handler: TransactionHandler = transactionCommands[event.type as TransactionVerb];
      context.io.write(handler(context, command(event).args).reply);
    },
    // RETR, TOP and pipelined RETR runs of small messages are answered within this transition:
    // no state change and no promise hops (together they cost more than reading and sending
    // 4 KiB). What the store cannot read at once goes the `sending` way, and so does the session
    // when the client has output to catch up on (sending waits for it); self.send is taken before
    // any later command, as this actor's mailbox is still being processed.
    sendAtOnce: ({ context, event, self }) => {
      const steps =
        event.type === 'RETR_RUN'
          ? event.items.map((args) => resolveTransfer(context, 'RETR', args))
          : [resolveTransfer(context, command(event).type as 'RETR' | 'TOP', command(event).args)];
      const { sent, later } = transferNow(context.io, context.mailbox!, steps, context.wire);
      // In place, like DELE marks: this session's own set, never shared.
      for (const index of sent) (context.retrieved as Set<number>).add(index);
      if (later) self.send({ type: 'TRANSFER_LATER', steps: later });
    },
    startTransfer: ({ context, event, self }) => {
      // The plan comes from the event that entered `sending`: no context copy per RETR.
      const { steps } = event as Extract<SessionEvent, { type: 'TRANSFER_LATER' }>;
      const report = (done: SessionEvent) => {
        if (self.getSnapshot().status === 'active') self.send(done);
      };
      transferSteps(context.io, context.mailbox!, steps, context.wire).then(
        (sent) => report({ type: 'TRANSFER_DONE', sent }),
        (error: unknown) => report({ type: 'TRANSFER_FAILED', error }),
      );
    },
    markRetrieved: ({ context, event }) => {
      // In place, like DELE marks: this session's own set, never shared.
      for (const index of (event as Extract<SessionEvent, { type: 'TRANSFER_DONE' }>).sent) (context.retrieved as Set<number>).add(index);
    },
    replyTransferFailure: ({ context, event }) => {
      const error = (event as unknown as { error: unknown }).error;
      if (error instanceof MessageGoneError) context.io.write(errLine('Message was removed by another program'));
      else context.log.warn({ err: error }, 'message transfer failed');
    },
    replyCommitted: ({ context, event }) => {
      const output = (event as unknown as { output: { deleted: number } }).output;
      context.log.info({ user: context.user, deleted: output.deleted }, 'session committed');
      context.io.write(okLine(`Logging out, ${output.deleted} messages deleted`));
    },
    replyCommitFailure: ({ context, event }) => {
      context.log.warn({ user: context.user, err: (event as unknown as { error: unknown }).error }, 'commit failed');
      context.io.write(errLine('Some deleted messages could not be removed', 'SYS/TEMP'));
    },
    forgetMailbox: assign({ mailbox: undefined }),
    releaseAndClose: ({ context }) => {
      // Dropped or timed-out sessions delete nothing: RFC 1939 allows deletions only in UPDATE.
      // The socket closes once the lock is gone, so a client that reconnects at once gets in.
      const mailbox = context.mailbox;
      if (!mailbox) return context.io.close();
      mailbox
        .release()
        .catch((error: unknown) => context.log.warn({ err: error }, 'mailbox release failed'))
        .finally(() => context.io.close());
    },
    takeTls: assign({
      tlsActive: true,
      clientName: ({ event }) => (event as unknown as { output: { clientName?: string } }).output.clientName,
      pendingUser: undefined,
    }),
    logTlsFailure: ({ context, event }) => context.log.info({ err: (event as unknown as { error: unknown }).error }, 'STLS handshake failed'),
  },
}).createMachine({
  id: 'pop3-server-session',
  context: ({ input }) => ({
    ...input,
    badCommands: 0,
    authFailures: 0,
    messages: [],
    deleted: new Set<number>(),
    retrieved: new Set<number>(),
  }),
  initial: 'authorization',
  entry: 'greet',
  on: {
    // Anything the current state does not accept: a bad command, and too many close the session.
    // After USER only PASS may follow (RFC 1939): a bad line in between cancels the pending user.
    '*': [
      { guard: 'tooManyBadCommands', target: '.closed', actions: [{ type: 'reply', params: { text: errLine('Too many bad commands, closing') } }] },
      { actions: ['forgetPendingUser', 'replyBadCommand', 'countBadCommand'] },
    ],
    TIMEOUT: { target: '.closed', actions: { type: 'reply', params: { text: errLine('Disconnected for inactivity') } } },
    SHUTDOWN: { target: '.closed', actions: { type: 'reply', params: { text: errLine('Server shutting down', 'SYS/TEMP') } } },
    DISCONNECTED: '.closed',
  },
  states: {
    authorization: {
      initial: 'idle',
      states: {
        idle: {
          tags: ['ready'],
          on: {
            CAPA: { actions: ['forgetPendingUser', 'replyCapa'] },
            USER: [
              { guard: 'userPassAllowed', actions: ['rememberUser', { type: 'reply', params: { text: okLine('Send PASS') } }] },
              { actions: ['forgetPendingUser', 'replyUserRefused'] },
            ],
            PASS: [
              { guard: 'hasPendingUser', target: 'verifying', actions: 'passCredentials' },
              { actions: ['countBadCommand', { type: 'reply', params: { text: errLine('Send USER first') } }] },
            ],
            APOP: [
              { guard: 'apopAllowed', target: 'verifying', actions: ['forgetPendingUser', 'apopCredentials'] },
              { actions: ['forgetPendingUser', ({ context }) => context.io.write(authRefusal(context, 'APOP', 'APOP')!)] },
            ],
            AUTH: [
              { guard: ({ event }) => command(event).args.length === 0, actions: ['forgetPendingUser', 'replyAuthList'] },
              { target: 'saslStep', actions: ['forgetPendingUser', 'startSasl'] },
            ],
            STLS: [
              { guard: 'stlsPossible', target: 'startingTls', actions: ['forgetPendingUser', { type: 'reply', params: { text: okLine('Begin TLS negotiation') } }] },
              { actions: ['countBadCommand', { type: 'reply', params: { text: errLine('STLS not available here') } }] },
            ],
            QUIT: { target: '#pop3-server-session.closed', actions: { type: 'reply', params: { text: okLine('Bye') } } },
          },
        },
        saslStep: {
          always: [
            { guard: 'saslChallenge', target: 'sasl', actions: 'sendChallenge' },
            { guard: 'saslCredentials', target: 'verifying', actions: 'takeSaslCredentials' },
            {
              guard: 'saslAuthFailure',
              target: 'failing',
              actions: [
                { type: 'prepareFailure', params: ({ context }) => ({ reply: (context.saslStep as { reply: string }).reply }) },
                assign({ sasl: undefined, saslStep: undefined }),
              ],
            },
            { target: 'idle', actions: 'replySaslFailure' },
          ],
        },
        sasl: {
          tags: ['ready', 'sasl'],
          on: { SASL_RESPONSE: { target: 'saslStep', actions: 'continueSasl' } },
        },
        verifying: {
          invoke: {
            src: 'verifyCredentials',
            input: ({ context }) => ({ credentials: context.credentials! }),
            onDone: [
              { guard: { type: 'authOk', params: ({ event }) => ({ ok: event.output.ok }) }, target: 'opening', actions: 'acceptUser' },
              {
                guard: ({ event }) => !event.output.ok && event.output.reason === 'mechanism-unavailable',
                target: 'failing',
                actions: [
                  'logLoginFailure',
                  {
                    type: 'prepareFailure',
                    params: ({ context }) => ({ reply: errLine(`${context.credentials?.mechanism} is not available for this account`, 'AUTH') }),
                  },
                ],
              },
              { target: 'failing', actions: ['logLoginFailure', { type: 'prepareFailure', params: { reply: errLine('Authentication failed', 'AUTH') } }] },
            ],
            onError: { target: 'idle', actions: ['replyTempFailure', assign({ credentials: undefined })] },
          },
        },
        failing: {
          after: {
            authFailureDelay: [
              {
                guard: 'tooManyAuthFailures',
                target: '#pop3-server-session.closed',
                actions: ['replyFailure', { type: 'reply', params: { text: errLine('Too many authentication failures, closing') } }],
              },
              { target: 'idle', actions: 'replyFailure' },
            ],
          },
        },
        opening: {
          invoke: {
            src: 'openMailbox',
            input: ({ context }) => ({ user: context.mailboxKey ?? context.user! }),
            onDone: { target: '#pop3-server-session.transaction', actions: ['takeMailbox', 'replyLoggedIn'] },
            onError: { target: 'idle', actions: ['replyOpenFailure', 'forgetUser'] },
          },
        },
        startingTls: {
          invoke: {
            src: 'startTls',
            input: ({ context }) => ({ io: context.io }),
            onDone: { target: 'idle', actions: 'takeTls' },
            onError: { target: '#pop3-server-session.closed', actions: 'logTlsFailure' },
          },
          // The handshake replaces the socket: nothing else is read meanwhile.
          on: { TIMEOUT: '#pop3-server-session.closed' },
        },
      },
    },
    transaction: {
      initial: 'idle',
      states: {
        idle: {
          // retr-run: the connection may hand over consecutive pipelined RETRs as one RETR_RUN.
          tags: ['ready', 'retr-run'],
          on: {
            STAT: { actions: 'runTransactionCommand' },
            LIST: { actions: 'runTransactionCommand' },
            UIDL: { actions: 'runTransactionCommand' },
            DELE: { actions: 'runTransactionCommand' },
            RSET: { actions: 'runTransactionCommand' },
            NOOP: { actions: 'runTransactionCommand' },
            CAPA: { actions: 'replyCapa' },
            RETR: { actions: 'sendAtOnce' },
            TOP: { actions: 'sendAtOnce' },
            RETR_RUN: { actions: 'sendAtOnce' },
            TRANSFER_LATER: { target: 'sending' },
            QUIT: '#pop3-server-session.update',
          },
        },
        sending: {
          // An action, not an invoked actor: RETR is the hot path, and a child actor per message
          // cost more than reading and sending a 4 KiB message.
          entry: 'startTransfer',
          on: {
            TRANSFER_DONE: { target: 'idle', actions: 'markRetrieved' },
            // A removed message is answered inside the run (transferSteps); anything else ends the session.
            TRANSFER_FAILED: { target: '#pop3-server-session.closed', actions: 'replyTransferFailure' },
          },
        },
      },
    },
    update: {
      invoke: {
        src: 'commitUpdate',
        input: ({ context }) => ({
          mailbox: context.mailbox!,
          deleted: context.expire === 0 ? new Set([...context.deleted, ...context.retrieved]) : context.deleted,
        }),
        onDone: { target: 'closed', actions: ['forgetMailbox', 'replyCommitted'] },
        onError: { target: 'closed', actions: ['forgetMailbox', 'replyCommitFailure'] },
      },
      // QUIT was received: the commit finishes even if the client or the server goes away now.
      on: { DISCONNECTED: {}, SHUTDOWN: {}, TIMEOUT: {} },
    },
    closed: {
      type: 'final',
      entry: ['releaseAndClose', 'forgetMailbox'],
    },
  },
});

export type Pop3ServerMachine = typeof pop3ServerMachine;
export type Pop3ServerSessionActor = ActorRefFrom<typeof pop3ServerMachine>;
