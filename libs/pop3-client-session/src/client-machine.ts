/**
 * One POP3 retrieval session as an XState v5 machine:
 * connect → greeting → [CAPA] → [STLS → CAPA] → login methods in turn → CAPA → UIDL/LIST →
 * RETR/stage/publish/DELE → QUIT. Only `connect` touches the network; it is provided by the
 * Retriever app, and tests swap any step with provide().
 */
import { assign, fromPromise, setup } from 'xstate';
import type { AuthType } from '@mailnode/config';
import { attemptLogin, isFinalRefusal, type LoginCredentials, type LoginOutcome } from './authenticate.ts';
import { capa, expectOk, listMessages, simpleCommand, type RemoteMessage } from './commands.ts';
import { downloadAll, type DownloadOptions, type DownloadResult } from './download.ts';
import { partialResultOf, RetrievalError, type FailureStage } from './errors.ts';
import type { DeliverySink, Pop3Transport, UidlLedger } from './ports.ts';

export interface ClientSessionInput {
  readonly clientId: string;
  readonly tls: 'none' | 'implicit' | 'stls';
  readonly capa: boolean;
  readonly authtypes: readonly AuthType[];
  readonly credentials: LoginCredentials;
  readonly sink: DeliverySink;
  readonly ledger: UidlLedger;
  /** Everything downloadAll needs except the window, which depends on PIPELINING. */
  readonly download: Omit<DownloadOptions, 'window'> & { readonly pipelineWindow: number };
  /** Log in, list, QUIT: download nothing (`mailnode check`). The sink is not prepared. */
  readonly checkOnly?: boolean;
}

export interface ClientSessionOutput {
  readonly ok: boolean;
  readonly result?: DownloadResult;
  /** What the server listed, in check-only sessions. */
  readonly listed?: { readonly messages: number; readonly bytes: number };
  readonly error?: { readonly stage: FailureStage; readonly message: string };
}

interface ClientContext extends ClientSessionInput {
  transport?: Pop3Transport;
  greeting: string;
  capabilities: Map<string, string[]>;
  method: number;
  refusals: string[];
  messages: readonly RemoteMessage[];
  result?: DownloadResult;
  error?: { stage: FailureStage; message: string };
}

export const pop3ClientMachine = setup({
  types: {
    context: {} as ClientContext,
    input: {} as ClientSessionInput,
    output: {} as ClientSessionOutput,
  },
  actors: {
    connect: fromPromise<{ transport: Pop3Transport; greeting: string }, { clientId: string }>(async () => {
      throw new Error("client effect 'connect' was not provided");
    }),
    capa: fromPromise<Map<string, string[]>, { transport: Pop3Transport }>(({ input }) => capa(input.transport)),
    startTls: fromPromise<void, { transport: Pop3Transport }>(async ({ input }) => {
      await simpleCommand(input.transport, 'STLS');
      await input.transport.startTls();
    }),
    login: fromPromise<LoginOutcome, { transport: Pop3Transport; method: AuthType; credentials: LoginCredentials; greeting: string }>(({ input }) =>
      attemptLogin(input.transport, input.method, input.credentials, input.greeting),
    ),
    list: fromPromise<RemoteMessage[], { transport: Pop3Transport }>(({ input }) => listMessages(input.transport, true)),
    download: fromPromise<DownloadResult, { transport: Pop3Transport; context: ClientContext }>(({ input }) => {
      const { context } = input;
      const window = context.capabilities.has('PIPELINING') ? context.download.pipelineWindow : 1;
      return downloadAll(input.transport, context.messages, context.sink, context.ledger, { ...context.download, window });
    }),
    quit: fromPromise<void, { transport: Pop3Transport }>(async ({ input }) => {
      input.transport.send('QUIT');
      await expectOk(input.transport, 'QUIT');
    }),
    prepareSink: fromPromise<void, { sink: DeliverySink }>(({ input }) => input.sink.prepare()),
  },
  guards: {
    wantsCapa: ({ context }) => context.capa,
    wantsStls: ({ context }) => context.tls === 'stls',
    loginAccepted: ({ event }) => (event as unknown as { output: LoginOutcome }).output.ok,
    loginFinal: ({ event }) => isFinalRefusal((event as unknown as { output: LoginOutcome }).output),
    methodsLeft: ({ context }) => context.method + 1 < context.authtypes.length,
    checkOnly: ({ context }) => context.checkOnly === true,
  },
  actions: {
    recordFailure: assign({
      error: ({ event }, params: { stage: FailureStage }) => {
        const error = (event as { error?: unknown }).error;
        // The state names the phase; only connecting (connect/tls/greeting) and downloading
        // (download/deliver) have finer stages that the error itself knows.
        const refined = error instanceof RetrievalError && (params.stage === 'connect' || params.stage === 'download');
        return { stage: refined ? error.stage : params.stage, message: error instanceof Error ? error.message : String(error) };
      },
    }),
    closeTransport: ({ context }) => context.transport?.close(),
    keepPartialResult: assign({ result: ({ event }) => partialResultOf((event as { error?: unknown }).error) }),
    noteRefusal: assign({
      refusals: ({ context, event }) => {
        const outcome = (event as unknown as { output: Extract<LoginOutcome, { ok: false }> }).output;
        return [...context.refusals, `${context.authtypes[context.method]}: ${outcome.reason}`];
      },
    }),
  },
}).createMachine({
  id: 'pop3-client-session',
  context: ({ input }) => ({ ...input, greeting: '', capabilities: new Map(), method: 0, refusals: [], messages: [] }),
  initial: 'preparing',
  states: {
    preparing: {
      always: { guard: 'checkOnly', target: 'connecting' },
      invoke: {
        src: 'prepareSink',
        input: ({ context }) => ({ sink: context.sink }),
        onDone: 'connecting',
        onError: { target: 'failed', actions: { type: 'recordFailure', params: { stage: 'recip' as const } } },
      },
    },
    connecting: {
      invoke: {
        src: 'connect',
        input: ({ context }) => ({ clientId: context.clientId }),
        onDone: [
          {
            guard: 'wantsCapa',
            target: 'capaBeforeTls',
            actions: assign({ transport: ({ event }) => event.output.transport, greeting: ({ event }) => event.output.greeting }),
          },
          { target: 'tlsCheck', actions: assign({ transport: ({ event }) => event.output.transport, greeting: ({ event }) => event.output.greeting }) },
        ],
        onError: { target: 'failed', actions: { type: 'recordFailure', params: { stage: 'connect' as const } } },
      },
    },
    capaBeforeTls: {
      invoke: {
        src: 'capa',
        input: ({ context }) => ({ transport: context.transport! }),
        onDone: { target: 'tlsCheck', actions: assign({ capabilities: ({ event }) => event.output }) },
        onError: { target: 'failed', actions: { type: 'recordFailure', params: { stage: 'greeting' as const } } },
      },
    },
    tlsCheck: {
      always: [{ guard: 'wantsStls', target: 'startingTls' }, { target: 'authenticating' }],
    },
    startingTls: {
      // No fallback: a server that refuses or fails STLS ends the session before any login.
      invoke: {
        src: 'startTls',
        input: ({ context }) => ({ transport: context.transport! }),
        onDone: [{ guard: 'wantsCapa', target: 'capaAfterTls' }, { target: 'authenticating' }],
        onError: { target: 'failed', actions: { type: 'recordFailure', params: { stage: 'tls' as const } } },
      },
    },
    capaAfterTls: {
      invoke: {
        src: 'capa',
        input: ({ context }) => ({ transport: context.transport! }),
        onDone: { target: 'authenticating', actions: assign({ capabilities: ({ event }) => event.output }) },
        onError: { target: 'failed', actions: { type: 'recordFailure', params: { stage: 'tls' as const } } },
      },
    },
    authenticating: {
      invoke: {
        src: 'login',
        input: ({ context }) => ({
          transport: context.transport!,
          method: context.authtypes[context.method]!,
          credentials: context.credentials,
          greeting: context.greeting,
        }),
        onDone: [
          { guard: 'loginAccepted', target: 'capaAfterLogin' },
          {
            guard: 'loginFinal',
            target: 'failed',
            actions: ['noteRefusal', assign({ error: ({ context }) => ({ stage: 'auth' as const, message: `login refused: ${context.refusals.join('; ')}` }) })],
          },
          { guard: 'methodsLeft', target: 'authenticating', reenter: true, actions: ['noteRefusal', assign({ method: ({ context }) => context.method + 1 })] },
          {
            target: 'failed',
            actions: ['noteRefusal', assign({ error: ({ context }) => ({ stage: 'auth' as const, message: `login refused: ${context.refusals.join('; ')}` }) })],
          },
        ],
        onError: { target: 'failed', actions: { type: 'recordFailure', params: { stage: 'auth' as const } } },
      },
    },
    capaAfterLogin: {
      // PIPELINING is learnt here; a server without CAPA simply gets lock-step commands.
      invoke: {
        src: 'capa',
        input: ({ context }) => ({ transport: context.transport! }),
        onDone: { target: 'listing', actions: assign({ capabilities: ({ event }) => event.output }) },
        onError: [
          { guard: ({ event }) => (event.error as Error)?.name === 'Pop3ReplyError', target: 'listing', actions: assign({ capabilities: () => new Map() }) },
          { target: 'failed', actions: { type: 'recordFailure', params: { stage: 'list' as const } } },
        ],
      },
    },
    listing: {
      invoke: {
        src: 'list',
        input: ({ context }) => ({ transport: context.transport! }),
        onDone: [
          { guard: 'checkOnly', target: 'quitting', actions: assign({ messages: ({ event }) => event.output }) },
          { target: 'downloading', actions: assign({ messages: ({ event }) => event.output }) },
        ],
        onError: { target: 'failed', actions: { type: 'recordFailure', params: { stage: 'list' as const } } },
      },
    },
    downloading: {
      invoke: {
        src: 'download',
        input: ({ context }) => ({ transport: context.transport!, context }),
        onDone: { target: 'quitting', actions: assign({ result: ({ event }) => event.output }) },
        onError: [
          // The link still works after a local delivery failure: QUIT commits the DELEs of the
          // batches that were stored, and the failed ones were never deleted.
          {
            guard: ({ event }) => (event.error as RetrievalError)?.stage === 'deliver',
            target: 'quittingAfterFailure',
            actions: [{ type: 'recordFailure', params: { stage: 'deliver' as const } }, 'keepPartialResult'],
          },
          { target: 'failed', actions: [{ type: 'recordFailure', params: { stage: 'download' as const } }, 'keepPartialResult'] },
        ],
      },
    },
    quitting: {
      invoke: {
        src: 'quit',
        input: ({ context }) => ({ transport: context.transport! }),
        onDone: 'done',
        onError: { target: 'failed', actions: { type: 'recordFailure', params: { stage: 'quit' as const } } },
      },
    },
    quittingAfterFailure: {
      invoke: {
        src: 'quit',
        input: ({ context }) => ({ transport: context.transport! }),
        onDone: 'failed',
        onError: 'failed',
      },
    },
    done: { type: 'final', entry: 'closeTransport' },
    failed: { type: 'final', entry: 'closeTransport' },
  },
  output: ({ context }) => {
    const listed = context.checkOnly ? { messages: context.messages.length, bytes: context.messages.reduce((sum, m) => sum + m.size, 0) } : undefined;
    return context.error ? { ok: false, result: context.result, error: context.error, listed } : { ok: true, result: context.result, listed };
  },
});

export type Pop3ClientMachine = typeof pop3ClientMachine;
