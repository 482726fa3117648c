/**
 * The Retriever app: one scheduler actor per configured client, each running client session
 * machines; a failure in one client never stops the others. Around every run sit the polling
 * policies: the `processes` cap, host and account pauses after failures, and the self-poll
 * guard. It also answers the control commands: status, poll now, check.
 */
import { inject, injectable } from 'tsyringe';
import { createActor, fromPromise, type ActorRefFrom } from 'xstate';
import { CONFIG, type MailnodeConfig, type RetrieverClientConfig } from '@mailnode/config';
import { DIRECTORY, type Directory } from '@mailnode/directory';
import { LOGGER, type Logger, type Transcript } from '@mailnode/logging';
import { MESSAGE_STORE, type MessageStore } from '@mailnode/message-store';
import type { ClientSessionOutput, ProgressReport } from '@mailnode/pop3-client-session';
import { AuditLog } from './audit-log.ts';
import { checkClient } from './client-check.ts';
import { ClientRecord } from './client-record.ts';
import { clientSchedulerMachine, type RunVerdict } from './client-scheduler.ts';
import { endpointOf, runClientSession, type SessionDependencies } from './client-session.ts';
import type { CheckResult, ClientStatus, PollResult } from './client-status.ts';
import { failureScope, HostPauses } from './failure-delays.ts';
import { OWN_LISTENERS, type OwnListenerSet } from './own-listeners.ts';
import { ProcessSlots } from './process-slots.ts';
import { selfPollProblem } from './self-poll-guard.ts';
import { RETRIEVER_TRANSCRIPT } from './tokens.ts';

export type ProgressListener = (clientId: string, progress: ProgressReport) => void;

/** Scheduled runs respect pauses; runs asked for by a person ("try now", fetch --once) do not. */
type RunKind = 'scheduled' | 'manual';

@injectable()
export class Retriever {
  private readonly schedulers = new Map<string, ActorRefFrom<typeof clientSchedulerMachine>>();
  private readonly records = new Map<string, ClientRecord>();
  private readonly running = new Set<Promise<unknown>>();
  private readonly audit: AuditLog;
  private readonly deps: SessionDependencies;
  private readonly slots: ProcessSlots;
  private readonly hostPauses = new HostPauses();

  constructor(
    @inject(CONFIG) private readonly config: MailnodeConfig,
    @inject(LOGGER) private readonly log: Logger,
    @inject(DIRECTORY) directory: Directory,
    @inject(MESSAGE_STORE) store: MessageStore,
    @inject(RETRIEVER_TRANSCRIPT) transcript: Transcript,
    @inject(OWN_LISTENERS) private readonly ownListeners: OwnListenerSet,
  ) {
    this.audit = new AuditLog(config.pop3download.audit);
    this.deps = { settings: config.pop3download, store, directory, log, transcript, audit: this.audit, hostname: config.hostname, syncMethod: config.message_store.sync_method };
    this.slots = new ProcessSlots(config.pop3download.processes);
    for (const client of this.clients) this.records.set(client.id, new ClientRecord(client, serverOf(client)));
  }

  get clients(): readonly RetrieverClientConfig[] {
    return this.config.pop3download.clients;
  }

  /** Start every enabled client's schedule, after `delay_start`. */
  start(): void {
    const delayStart = this.config.pop3download.delay_start;
    for (const client of this.clients) {
      const record = this.records.get(client.id)!;
      if (client.disabled) continue;
      const scheduler = createActor(
        clientSchedulerMachine.provide({
          actors: { runSession: fromPromise(({ input }) => this.scheduledRun(input.client)) },
        }),
        { input: { client, initialDelayMs: delayStart } },
      );
      record.nextRunAt = Date.now() + delayStart;
      scheduler.subscribe((snapshot) => {
        if (snapshot.status === 'done' && snapshot.value === 'deactivated') record.state = 'deactivated';
      });
      this.schedulers.set(client.id, scheduler);
      scheduler.start();
    }
    if (this.clients.length) {
      this.log.info({ component: 'retriever', clients: this.clients.length, delay_start: delayStart, processes: this.slots.size }, 'retriever scheduled');
    }
  }

  /** One run of each named client (all when none named), concurrently within `processes`, like `fetchmail` by hand. */
  async runOnce(ids: readonly string[] = [], onProgress?: ProgressListener): Promise<Map<string, ClientSessionOutput>> {
    const chosen = this.choose(ids);
    const results = await Promise.all(
      chosen.map(async (client) => [client.id, await this.poll(client, 'manual', onProgress && ((progress) => onProgress(client.id, progress)))] as const),
    );
    return new Map(results.map(([id, { output }]) => [id, output]));
  }

  /** Every client's schedule, last result and counts (`mailnode status`). */
  status(): ClientStatus[] {
    const now = Date.now();
    return this.clients.map((client) => this.records.get(client.id)!.status(now));
  }

  /**
   * Poll the named clients (all enabled ones when none named) now, and resolve with each run's
   * result (`mailnode poll`). A client in the middle of a run reports that run.
   */
  async pollNow(ids: readonly string[] = []): Promise<PollResult[]> {
    const chosen = ids.length ? this.choose(ids) : this.clients.filter((client) => !client.disabled);
    return Promise.all(
      chosen.map(async (client) => {
        const record = this.records.get(client.id)!;
        const scheduler = this.schedulers.get(client.id);
        const snapshot = scheduler?.getSnapshot();
        if (scheduler && snapshot?.status === 'active') {
          const result = record.nextResult();
          if (snapshot.value === 'waiting') scheduler.send({ type: 'POLL_NOW' });
          return result;
        }
        // Disabled, deactivated, or not scheduled in this process: run it directly, once.
        return (await this.poll(client, 'manual')).result;
      }),
    );
  }

  /** Resolve recipients and try each server's connection and login, downloading nothing (`mailnode check`). */
  async check(ids: readonly string[] = []): Promise<CheckResult[]> {
    const chosen = this.choose(ids);
    return Promise.all(
      chosen.map(async (client) => {
        const release = await this.slots.acquire();
        try {
          return await checkClient(client, this.deps);
        } finally {
          release();
        }
      }),
    );
  }

  /** Stop scheduling; give running sessions a moment to finish (they never delete early anyway). */
  async stop(deadlineMs = 5000): Promise<void> {
    for (const scheduler of this.schedulers.values()) scheduler.send({ type: 'STOP' });
    this.schedulers.clear();
    await Promise.race([Promise.allSettled([...this.running]), new Promise((resolve) => setTimeout(resolve, deadlineMs).unref())]);
    await this.audit.close();
  }

  private choose(ids: readonly string[]): RetrieverClientConfig[] {
    const unknown = ids.filter((id) => !this.records.has(id));
    if (unknown.length) throw new Error(`no such retriever client: ${unknown.join(', ')}`);
    return ids.length ? this.clients.filter((client) => ids.includes(client.id)) : [...this.clients];
  }

  private async scheduledRun(client: RetrieverClientConfig): Promise<RunVerdict> {
    const { verdict } = await this.poll(client, 'scheduled');
    return verdict;
  }

  /** One run with every policy around it; never throws. */
  private async poll(
    client: RetrieverClientConfig,
    kind: RunKind,
    onProgress?: (progress: ProgressReport) => void,
  ): Promise<{ output: ClientSessionOutput; result: PollResult; verdict: RunVerdict }> {
    const record = this.records.get(client.id)!;
    const server = record.server;
    const log = this.log.child({ component: 'retriever', client: client.id, server });
    const skip = (reason: string, retryAt: number) => {
      const result = record.recordSkip(reason);
      return this.finish(record, result, { ok: false, error: { stage: 'connect', message: reason } }, retryAt);
    };
    /** Scheduled runs do not connect to a host that failed; person-initiated runs do. */
    const skipPausedHost = () => {
      const until = kind === 'scheduled' ? this.hostPauses.pausedUntil(server) : undefined;
      if (until === undefined) return undefined;
      Object.assign(record, { pausedUntil: until, pauseReason: 'host' });
      return skip(`host ${server} paused after a failed connection, until ${new Date(until).toISOString()}`, until);
    };

    if (!this.config.pop3download.allow_self_poll) {
      const endpoint = endpointOf(client);
      const problem = await selfPollProblem(endpoint.host, endpoint.port, this.ownListeners.list());
      if (problem) {
        log.error({ reason: problem }, 'refusing to poll: self-poll');
        return skip(problem, Date.now() + client.freq);
      }
    }
    const pausedBefore = skipPausedHost();
    if (pausedBefore) return pausedBefore;

    record.state = 'queued';
    const release = await this.slots.acquire();
    // The host may have failed for another client while this one waited for a slot.
    const pausedMeanwhile = skipPausedHost();
    if (pausedMeanwhile) {
      release();
      return pausedMeanwhile;
    }
    record.state = 'polling';
    let output: ClientSessionOutput;
    try {
      output = await this.track(
        runClientSession(client, this.deps, { onProgress, domainwide: record.domainwide }).catch(
          (error: unknown): ClientSessionOutput => ({ ok: false, error: { stage: 'download', message: (error as Error).message } }),
        ),
      );
    } finally {
      release();
    }
    const result = record.recordRun(output);
    let retryAt = Date.now() + client.freq;
    if (!output.ok && output.error) {
      const scope = failureScope(output.error.stage);
      const settings = this.config.pop3download;
      if (scope === 'host' && settings.delay_failed_host > 0) {
        const until = Date.now() + settings.delay_failed_host;
        this.hostPauses.pause(server, until);
        Object.assign(record, { pausedUntil: until, pauseReason: 'host' });
        log.info({ until: new Date(until).toISOString() }, 'host failed: pausing every client on it (delay_failed_host)');
      } else if (scope === 'account' && settings.delay_failed_account > 0) {
        const until = Date.now() + settings.delay_failed_account;
        Object.assign(record, { pausedUntil: until, pauseReason: 'account' });
        log.info({ until: new Date(until).toISOString() }, 'account failed: pausing this client (delay_failed_account)');
      }
      if (record.pausedUntil !== undefined) retryAt = Math.max(retryAt, record.pausedUntil);
    } else if (output.ok) {
      this.hostPauses.clear(server);
    }
    return this.finish(record, result, output, retryAt);
  }

  private finish(record: ClientRecord, result: PollResult, output: ClientSessionOutput, retryAt: number) {
    const deactivate = record.client.domainwide !== undefined && record.domainwide.consecutiveDuds >= record.client.domainwide.max_duds;
    record.state = deactivate ? 'deactivated' : record.client.disabled ? 'disabled' : 'waiting';
    record.nextRunAt = deactivate ? undefined : retryAt;
    record.settle(result);
    return { output, result, verdict: { nextDelayMs: Math.max(0, retryAt - Date.now()), deactivate } };
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    this.running.add(promise);
    void promise.finally(() => this.running.delete(promise)).catch(() => {});
    return promise;
  }
}

function serverOf(client: RetrieverClientConfig): string {
  const endpoint = endpointOf(client);
  return endpoint.host.includes(':') ? `[${endpoint.host}]:${endpoint.port}` : `${endpoint.host}:${endpoint.port}`;
}
