/**
 * The Retriever app: one scheduler actor per configured client, each running client session
 * machines; a failure in one client never stops the others.
 */
import { inject, injectable } from 'tsyringe';
import { createActor, fromPromise, type ActorRefFrom } from 'xstate';
import { CONFIG, type MailnodeConfig, type RetrieverClientConfig } from '@mailnode/config';
import { DIRECTORY, type Directory } from '@mailnode/directory';
import { LOGGER, type Logger, type Transcript } from '@mailnode/logging';
import { MESSAGE_STORE, type MessageStore } from '@mailnode/message-store';
import type { ClientSessionOutput, ProgressReport } from '@mailnode/pop3-client-session';
import { AuditLog } from './audit-log.ts';
import { clientSchedulerMachine } from './client-scheduler.ts';
import { runClientSession, type SessionDependencies } from './client-session.ts';
import { RETRIEVER_TRANSCRIPT } from './tokens.ts';

export type ProgressListener = (clientId: string, progress: ProgressReport) => void;

@injectable()
export class Retriever {
  private readonly schedulers = new Map<string, ActorRefFrom<typeof clientSchedulerMachine>>();
  private readonly running = new Set<Promise<unknown>>();
  private readonly audit: AuditLog;
  private readonly deps: SessionDependencies;

  constructor(
    @inject(CONFIG) private readonly config: MailnodeConfig,
    @inject(LOGGER) private readonly log: Logger,
    @inject(DIRECTORY) directory: Directory,
    @inject(MESSAGE_STORE) store: MessageStore,
    @inject(RETRIEVER_TRANSCRIPT) transcript: Transcript,
  ) {
    this.audit = new AuditLog(config.pop3download.audit);
    this.deps = { settings: config.pop3download, store, directory, log, transcript, audit: this.audit, hostname: config.hostname };
  }

  get clients(): readonly RetrieverClientConfig[] {
    return this.config.pop3download.clients;
  }

  /** Start every client's schedule, after `delay_start`. */
  start(): void {
    for (const client of this.clients) {
      const scheduler = createActor(
        clientSchedulerMachine.provide({
          actors: { runSession: fromPromise(({ input }) => this.track(runClientSession(input.client, this.deps))) },
        }),
        { input: { client, initialDelayMs: this.config.pop3download.delay_start } },
      );
      this.schedulers.set(client.id, scheduler);
      scheduler.start();
    }
    if (this.clients.length) this.log.info({ component: 'retriever', clients: this.clients.length, delay_start: this.config.pop3download.delay_start }, 'retriever scheduled');
  }

  /** One run of each named client (all when none named), concurrently, like `fetchmail` by hand. */
  async runOnce(ids: readonly string[] = [], onProgress?: ProgressListener): Promise<Map<string, ClientSessionOutput>> {
    const unknown = ids.filter((id) => !this.clients.some((client) => client.id === id));
    if (unknown.length) throw new Error(`no such retriever client: ${unknown.join(', ')}`);
    const chosen = ids.length ? this.clients.filter((client) => ids.includes(client.id)) : this.clients;
    const results = await Promise.all(
      chosen.map(async (client) => {
        const output = await this.track(
          runClientSession(client, this.deps, onProgress && ((progress) => onProgress(client.id, progress))).catch(
            (error: unknown): ClientSessionOutput => ({ ok: false, error: { stage: 'download', message: (error as Error).message } }),
          ),
        );
        return [client.id, output] as const;
      }),
    );
    return new Map(results);
  }

  /** Stop scheduling; give running sessions a moment to finish (they never delete early anyway). */
  async stop(deadlineMs = 5000): Promise<void> {
    for (const scheduler of this.schedulers.values()) scheduler.send({ type: 'STOP' });
    this.schedulers.clear();
    await Promise.race([Promise.allSettled([...this.running]), new Promise((resolve) => setTimeout(resolve, deadlineMs).unref())]);
    await this.audit.close();
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    this.running.add(promise);
    void promise.finally(() => this.running.delete(promise)).catch(() => {});
    return promise;
  }
}
