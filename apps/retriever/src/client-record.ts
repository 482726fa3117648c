/** What the Retriever knows about one client between runs: its status and its dud count. */
import type { RetrieverClientConfig } from '@mailnode/config';
import type { ClientSessionOutput } from '@mailnode/pop3-client-session';
import type { ClientState, ClientStatus, PollResult, RunCounts } from './client-status.ts';
import type { DomainWideState } from './sinks/domainwide-sink.ts';

const NO_COUNTS: RunCounts = { fetched: 0, bytes: 0, deleted: 0 };
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

export class ClientRecord {
  state: ClientState;
  nextRunAt: number | undefined;
  pausedUntil: number | undefined;
  pauseReason: 'host' | 'account' | undefined;
  readonly domainwide: DomainWideState = { consecutiveDuds: 0 };
  private lastSuccessAt: number | undefined;
  private lastErrorAt: number | undefined;
  private lastError: string | undefined;
  private lastRun: RunCounts | undefined;
  private totals = { runs: 0, ...NO_COUNTS };
  private waiters: ((result: PollResult) => void)[] = [];

  constructor(
    readonly client: RetrieverClientConfig,
    readonly server: string,
  ) {
    this.state = client.disabled ? 'disabled' : 'waiting';
  }

  get id(): string {
    return this.client.id;
  }

  /** The result of a run that connected (or tried to). */
  recordRun(output: ClientSessionOutput, now = Date.now()): PollResult {
    const counts: RunCounts = output.result ? { fetched: output.result.fetched, bytes: output.result.bytes, deleted: output.result.deleted } : NO_COUNTS;
    this.lastRun = counts;
    this.totals = {
      runs: this.totals.runs + 1,
      fetched: this.totals.fetched + counts.fetched,
      bytes: this.totals.bytes + counts.bytes,
      deleted: this.totals.deleted + counts.deleted,
    };
    if (output.ok) {
      this.lastSuccessAt = now;
      this.pausedUntil = undefined;
      this.pauseReason = undefined;
    } else {
      this.noteError(`${output.error?.stage ?? 'download'}: ${output.error?.message ?? 'failed'}`, now);
    }
    return { id: this.id, ok: output.ok, counts, ...(output.ok ? {} : { error: this.lastError }) };
  }

  /** A run that did not connect at all (host paused, self-poll refused). */
  recordSkip(reason: string, now = Date.now()): PollResult {
    this.noteError(reason, now);
    return { id: this.id, ok: false, counts: NO_COUNTS, error: reason, skipped: reason };
  }

  /** Resolves with the result of the next run that finishes. */
  nextResult(): Promise<PollResult> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  settle(result: PollResult): void {
    for (const resolve of this.waiters.splice(0)) resolve(result);
  }

  status(now = Date.now()): ClientStatus {
    const paused = this.pausedUntil !== undefined && this.pausedUntil > now;
    const state: ClientState = this.state === 'waiting' && paused ? 'paused' : this.state;
    return {
      id: this.id,
      server: this.server,
      recip: this.client.domainwide ? 'domain-wide' : (this.client.recip ?? ''),
      state,
      lastSuccessAt: iso(this.lastSuccessAt),
      lastErrorAt: iso(this.lastErrorAt),
      lastError: this.lastError,
      lastRun: this.lastRun,
      totals: this.totals,
      nextRunAt: state === 'waiting' || state === 'paused' ? iso(this.nextRunAt) : undefined,
      pausedUntil: paused ? iso(this.pausedUntil) : undefined,
      pauseReason: paused ? this.pauseReason : undefined,
      duds: this.domainwide.consecutiveDuds,
    };
  }

  private noteError(message: string, now: number): void {
    this.lastErrorAt = now;
    this.lastError = message;
  }
}
