/**
 * One retrieval run of one configured client: picks the delivery mode, builds the client
 * session machine with its `connect` effect, runs it, and returns its output.
 */
import { readFile } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import { createActor, fromPromise, toPromise } from 'xstate';
import type { RetrieverClientConfig, RetrieverConfig } from '@mailnode/config';
import type { Directory } from '@mailnode/directory';
import type { Logger, Transcript } from '@mailnode/logging';
import type { MessageStore } from '@mailnode/message-store';
import { pop3ClientMachine, type ClientSessionOutput, type DeliverySink, type ProgressReport } from '@mailnode/pop3-client-session';
import type { AuditLog } from './audit-log.ts';
import { openTransport, parseServerAddress, type RemoteEndpoint } from './connect.ts';
import { FileLedger } from './file-ledger.ts';
import { resolvePassword } from './password.ts';
import { receivedHeader } from './received-header.ts';
import { DirectorySink } from './sinks/directory-sink.ts';
import { MaildirSink } from './sinks/maildir-sink.ts';
import { SmtpSink } from './sinks/smtp-sink.ts';
import { DomainWideSink, type DomainWideState } from './sinks/domainwide-sink.ts';
import { MaildirStore, type SyncMethod } from '@mailnode/maildir';
import type { ConnectionOptions } from 'node:tls';

export interface SessionDependencies {
  readonly settings: RetrieverConfig;
  readonly store: MessageStore;
  readonly directory: Directory;
  readonly log: Logger;
  readonly transcript: Transcript;
  readonly audit: AuditLog;
  readonly hostname?: string;
  /** message_store.sync_method, for the stores this session opens itself (domain-wide duds). */
  readonly syncMethod?: SyncMethod;
}

export type DeliveryMode = 'maildir' | 'directory' | 'smtp' | 'domainwide';

export function deliveryMode(client: RetrieverClientConfig): DeliveryMode {
  if (client.domainwide) return 'domainwide';
  if (client.smtp?.enabled) return 'smtp';
  return client.downloads_directory ? 'directory' : 'maildir';
}

/** `mailnode check` downloads nothing: a sink that must never be used. */
const CHECK_ONLY_SINK: DeliverySink = {
  prepare: async () => {},
  stage: async () => {
    throw new Error('check-only session tried to deliver');
  },
  publish: async () => {},
  discard: async () => {},
  resolvePending: async () => 'not-delivered',
  describe: () => 'check-only',
};

export function endpointOf(client: RetrieverClientConfig): RemoteEndpoint {
  const tls = !client.ssl ? 'none' : client.ssl.latent ? 'stls' : 'implicit';
  return { ...parseServerAddress(client.server.address, tls === 'implicit' ? 995 : 110), tls };
}

async function tlsOptions(client: RetrieverClientConfig, endpoint: RemoteEndpoint): Promise<ConnectionOptions> {
  const ssl = client.ssl;
  return {
    servername: ssl?.servername ?? (/^[\d.]+$|:/.test(endpoint.host) ? undefined : endpoint.host),
    // Certificate checks stay on: a private server needs its CA in ssl.ca, never a bypass.
    rejectUnauthorized: true,
    // Read at each run, asynchronously: renewed files apply without a restart and the event
    // loop the POP3 server shares never blocks on them.
    ca: ssl?.ca ? await readFile(ssl.ca) : undefined,
    cert: ssl?.cert ? await readFile(ssl.cert) : undefined,
    key: ssl?.key ? await readFile(ssl.key) : undefined,
    minVersion: 'TLSv1.2',
  };
}

export interface SessionOptions {
  readonly onProgress?: (progress: ProgressReport) => void;
  /** A domain-wide client's dud count, kept by the Retriever across runs. */
  readonly domainwide?: DomainWideState;
  /** Log in and list only (`mailnode check`). */
  readonly checkOnly?: boolean;
}

function sinkFor(client: RetrieverClientConfig, deps: SessionDependencies, options: SessionOptions, log: Logger): DeliverySink {
  const recip = client.recip ?? '';
  if (options.checkOnly) return CHECK_ONLY_SINK;
  switch (deliveryMode(client)) {
    case 'domainwide': {
      const settings = client.domainwide!;
      return new DomainWideSink({
        clientId: client.id,
        settings,
        store: deps.store,
        duds: new MaildirStore({ root: settings.duds, hostname: deps.hostname, syncMethod: deps.syncMethod, log }),
        directory: deps.directory,
        spoolDir: join(deps.settings.uidl_dir, 'spool', client.id),
        state: options.domainwide ?? { consecutiveDuds: 0 },
        log,
      });
    }
    case 'smtp': {
      const smtp = client.smtp!;
      const { host, port } = parseServerAddress(smtp.host, 25);
      return new SmtpSink(
        { host, port, lmtp: smtp.lmtp, sender: smtp.sender, localName: deps.hostname ?? osHostname(), timeoutMs: deps.settings.timeout },
        recip,
        deps.directory,
        join(deps.settings.uidl_dir, 'spool', client.id),
      );
    }
    case 'directory':
      return new DirectorySink(client.downloads_directory!, recip);
    case 'maildir':
      return new MaildirSink(deps.store, deps.directory, recip);
  }
}

export async function runClientSession(client: RetrieverClientConfig, deps: SessionDependencies, options: SessionOptions = {}): Promise<ClientSessionOutput> {
  const endpoint = endpointOf(client);
  const server = `${endpoint.host}:${endpoint.port}`;
  const log = deps.log.child({ component: 'retriever', client: client.id, server });
  const limits = deps.settings.limits;
  const mode = deliveryMode(client);
  const ledger = FileLedger.forClient(deps.settings.uidl_dir, client.id);
  const localHost = deps.hostname ?? osHostname();
  let password: string | undefined;
  try {
    password = await resolvePassword(client.server);
  } catch (error) {
    return { ok: false, error: { stage: 'auth', message: (error as Error).message } };
  }
  const transcriptId = `${client.id}-${Date.now().toString(36)}`;
  const machine = pop3ClientMachine.provide({
    actors: {
      connect: fromPromise(async () =>
        openTransport(endpoint, {
          timeoutMs: deps.settings.timeout,
          lineLength: limits.line_length,
          transcript: deps.transcript,
          transcriptId,
          tls: await tlsOptions(client, endpoint),
        }),
      ),
    },
  });
  const actor = createActor(machine, {
    input: {
      clientId: client.id,
      tls: endpoint.tls,
      capa: client.capa,
      authtypes: [...client.server.authtypes],
      credentials: { username: client.server.username ?? '', password, initialResponse: client.server.initrsp },
      sink: sinkFor(client, deps, options, log),
      checkOnly: options.checkOnly,
      ledger,
      download: {
        preserve: client.preserve,
        pipelineWindow: limits.pipeline_window,
        // SMTP cannot take back a message: record each one as soon as the server accepted it.
        // Domain-wide clients count duds in a row, which needs one message at a time: the one
        // that trips max_duds must stay on the server without taking earlier ones with it.
        batchMessages: mode === 'smtp' || mode === 'domainwide' ? 1 : limits.batch_messages,
        batchBytes: limits.batch_bytes,
        maxMessageBytes: limits.max_message_size,
        bufferBytes: 1024 * 1024,
        stageConcurrency: limits.stage_concurrency,
        receivedHeader: client.omitreceivedheader
          ? undefined
          : (message) => receivedHeader({ server: endpoint.host, localHost, uidl: message.uidl, recip: client.recip, when: new Date() }),
        onProgress: options.onProgress,
        // Without an audit log nothing needs the Message-ID, so the download does not look for it.
        audit: deps.audit.enabled ? { delivered: (entry) => deps.audit.write({ clientId: client.id, server, ...entry }) } : undefined,
        log,
      },
    },
  });
  deps.transcript.note(transcriptId, `connecting to ${server} (${endpoint.tls})`);
  actor.start();
  try {
    const output = await toPromise(actor);
    if (options.checkOnly) return output;
    if (output.ok) log.info({ ...output.result }, 'retrieval finished');
    else log.warn({ stage: output.error?.stage, error: output.error?.message, ...output.result }, 'retrieval failed');
    return output;
  } finally {
    await ledger.close();
  }
}
