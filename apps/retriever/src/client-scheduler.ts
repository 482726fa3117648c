/**
 * Each configured client is an actor with its own schedule (Mailismus freq/runs/delay_start):
 * waiting → polling → waiting … → deactivated. `freq: 0` means one run; a finite `runs`
 * overrides that and runs that many times (in immediate succession when freq is 0). A run's
 * verdict may stretch the wait (a failed host or account pauses the client) or deactivate it
 * (max_duds). POLL_NOW ("try now") cuts a wait short.
 */
import { assign, fromPromise, setup } from 'xstate';
import type { RetrieverClientConfig } from '@mailnode/config';

export interface SchedulerInput {
  readonly client: RetrieverClientConfig;
  readonly initialDelayMs: number;
}

/** What a run tells the schedule. */
export interface RunVerdict {
  /** Wait before the next run: `freq`, or longer while a pause is in force. */
  readonly nextDelayMs: number;
  /** Stop scheduling this client (e.g. too many duds in a row). */
  readonly deactivate: boolean;
}

export interface SchedulerContext {
  readonly client: RetrieverClientConfig;
  runsLeft: number;
  delayMs: number;
  runs: number;
  deactivated: boolean;
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
    runSession: fromPromise<RunVerdict, { client: RetrieverClientConfig }>(async () => {
      throw new Error("scheduler effect 'runSession' was not provided");
    }),
  },
  delays: {
    nextRun: ({ context }) => context.delayMs,
  },
  guards: {
    // Guards run before the transition's actions: this run has not been counted yet.
    finished: ({ context, event }) => context.runsLeft <= 1 || ('output' in event && (event.output as RunVerdict).deactivate),
  },
  actions: {
    recordRun: assign(({ context, event }) => {
      // A run that threw (it should not: runSession reports failures in its verdict) waits `freq`.
      const verdict = 'output' in event ? (event.output as RunVerdict) : { nextDelayMs: context.client.freq, deactivate: false };
      return { runs: context.runs + 1, runsLeft: context.runsLeft - 1, delayMs: verdict.nextDelayMs, deactivated: verdict.deactivate };
    }),
  },
}).createMachine({
  id: 'retriever-client',
  context: ({ input }) => ({ client: input.client, runsLeft: plannedRuns(input.client), delayMs: input.initialDelayMs, runs: 0, deactivated: false }),
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
