/**
 * What `mailnode status` shows per retriever client (CommuniGate's "Last" column and more):
 * where the schedule stands, the last success or error, counts, and any pause.
 */

export type ClientState =
  /** Scheduled; `nextRunAt` says when. */
  | 'waiting'
  /** Due, but every `processes` slot is taken: waiting its turn. */
  | 'queued'
  | 'polling'
  /** `delay_failed_host` or `delay_failed_account` in force until `pausedUntil`. */
  | 'paused'
  /** `disabled: Y` in the config: kept, never polled on schedule. */
  | 'disabled'
  /** Planned runs done (freq 0 / runs), or shut off after `max_duds` duds in a row. */
  | 'deactivated';

export interface RunCounts {
  readonly fetched: number;
  readonly bytes: number;
  readonly deleted: number;
}

export interface ClientStatus {
  readonly id: string;
  /** host:port of the remote POP3 server. */
  readonly server: string;
  /** The local recipient, or `domain-wide` for a multidrop client. */
  readonly recip: string;
  readonly state: ClientState;
  /** ISO 8601 times. */
  readonly lastSuccessAt?: string;
  readonly lastErrorAt?: string;
  readonly lastError?: string;
  readonly lastRun?: RunCounts;
  readonly totals: RunCounts & { readonly runs: number };
  readonly nextRunAt?: string;
  readonly pausedUntil?: string;
  readonly pauseReason?: 'host' | 'account';
  /** Duds in a row (domain-wide clients). */
  readonly duds: number;
}

/** The outcome of one run, as `mailnode poll` reports it. */
export interface PollResult {
  readonly id: string;
  readonly ok: boolean;
  readonly counts: RunCounts;
  readonly error?: string;
  /** Set when the run did not even connect: a host pause, or the self-poll guard. */
  readonly skipped?: string;
}

/** `mailnode check`: one client's configuration tried without downloading anything. */
export interface CheckResult {
  readonly id: string;
  readonly server: string;
  readonly recip: { readonly ok: boolean; readonly detail: string };
  readonly connect: { readonly ok: boolean; readonly detail: string };
  readonly login: { readonly ok: boolean; readonly detail: string; readonly messages?: number; readonly bytes?: number };
}
