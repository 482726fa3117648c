/**
 * Each configured client is an actor with its own schedule (Mailismus freq/runs/delay_start):
 * waiting → polling → waiting … → deactivated. `freq: 0` means one run; a finite `runs`
 * overrides that and runs that many times (in immediate succession when freq is 0).
 */
import { assign, fromPromise, setup } from 'xstate';
import type { RetrieverClientConfig } from '@mailnode/config';
import type { ClientSessionOutput } from '@mailnode/pop3-client-session';

export interface SchedulerInput {
  readonly client: RetrieverClientConfig;
  readonly initialDelayMs: number;
}

export interface SchedulerContext {
  readonly client: RetrieverClientConfig;
  runsLeft: number;
  delayMs: number;
  runs: number;
  last?: ClientSessionOutput & { readonly at: number };
}

/** How many runs a client gets: 0 means unlimited. */
export function plannedRuns(client: RetrieverClientConfig): number {
  if (client.runs > 0) return client.runs;
  return client.freq === 0 ? 1 : Number.POSITIVE_INFINITY;
}

export const clientSchedulerMachine = setup({
  types: {
    context: {} as SchedulerContext,
    input: {} as SchedulerInput,
    events: {} as { type: 'POLL_NOW' } | { type: 'STOP' },
  },
  actors: {
    runSession: fromPromise<ClientSessionOutput, { client: RetrieverClientConfig }>(async () => {
      throw new Error("scheduler effect 'runSession' was not provided");
    }),
  },
  delays: {
    nextRun: ({ context }) => context.delayMs,
  },
  guards: {
    // Guards run before the transition's actions: this run has not been counted yet.
    finished: ({ context }) => context.runsLeft <= 1,
  },
  actions: {
    recordRun: assign(({ context, event }) => {
      const output: ClientSessionOutput =
        'output' in event ? (event.output as ClientSessionOutput) : { ok: false, error: { stage: 'download', message: String((event as { error?: unknown }).error) } };
      return { runs: context.runs + 1, runsLeft: context.runsLeft - 1, last: { ...output, at: Date.now() }, delayMs: context.client.freq };
    }),
  },
}).createMachine({
  id: 'retriever-client',
  context: ({ input }) => ({ client: input.client, runsLeft: plannedRuns(input.client), delayMs: input.initialDelayMs, runs: 0 }),
  initial: 'waiting',
  states: {
    waiting: {
      after: { nextRun: 'polling' },
      on: { POLL_NOW: 'polling', STOP: 'stopped' },
    },
    polling: {
      invoke: {
        src: 'runSession',
        input: ({ context }) => ({ client: context.client }),
        onDone: [{ guard: 'finished', target: 'deactivated', actions: 'recordRun' }, { target: 'waiting', actions: 'recordRun' }],
        onError: [{ guard: 'finished', target: 'deactivated', actions: 'recordRun' }, { target: 'waiting', actions: 'recordRun' }],
      },
      on: { STOP: 'stopped' },
    },
    deactivated: { type: 'final' },
    stopped: { type: 'final' },
  },
});
