/**
 * The POP3 server (Listener app): its listeners, the shared connection limits, and a clean
 * shutdown that ends sessions without committing their deletions.
 */
import { readFile } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import { inject, injectable } from 'tsyringe';
import { CONFIG, type MailnodeConfig } from '@mailnode/config';
import { DIRECTORY, type Directory } from '@mailnode/directory';
import { LOGGER, TRANSCRIPT, type Logger, type Transcript } from '@mailnode/logging';
import { MESSAGE_STORE, type MessageStore } from '@mailnode/message-store';
import { ConnectionLimits } from './connection-limits.ts';
import type { Pop3Connection } from './connection.ts';
import { listenerSecurity, Pop3Listener, type ListenerTls } from './listener.ts';
import { provideSessionMachine } from './session-effects.ts';
import { secureContextFor, type TlsMaterial } from './tls-material.ts';
import { TLS_MATERIAL } from './tokens.ts';
import { IMPLEMENTATION } from './version.ts';

/** How long sessions get to say goodbye on shutdown before their sockets are destroyed. */
export const SHUTDOWN_DEADLINE_MS = 5000;

export interface BoundListener {
  readonly address: string;
  readonly port: number;
  readonly security: string;
}

/** A listener as `mailnode status` shows it. */
export interface ListenerStatus extends BoundListener {
  readonly sessions: number;
}

@injectable()
export class Pop3Server {
  private readonly listeners: Pop3Listener[] = [];
  private readonly bound = new Map<Pop3Listener, BoundListener>();
  private readonly connections = new Set<Pop3Connection>();
  private sessionCounter = 0;
  private readonly sessionPrefix = Date.now().toString(36);

  constructor(
    @inject(CONFIG) private readonly config: MailnodeConfig,
    @inject(LOGGER) private readonly log: Logger,
    @inject(DIRECTORY) private readonly directory: Directory,
    @inject(MESSAGE_STORE) private readonly store: MessageStore,
    @inject(TRANSCRIPT) private readonly transcript: Transcript,
    @inject(TLS_MATERIAL) private readonly tlsMaterial: TlsMaterial | null,
  ) {}

  get sessionCount(): number {
    return this.connections.size;
  }

  async start(): Promise<BoundListener[]> {
    const server = this.config.pop3server;
    const shared = {
      server,
      machine: provideSessionMachine(this.directory, this.store),
      limits: new ConnectionLimits(server.limits.connections, server.limits.connections_per_ip),
      log: this.log,
      transcript: this.transcript,
      hostname: this.config.hostname ?? osHostname(),
      implementation: IMPLEMENTATION,
      nextSessionId: () => `${this.sessionPrefix}${(++this.sessionCounter).toString(36)}`,
      connections: this.connections,
    };
    const bound: BoundListener[] = [];
    try {
      for (const config of server.listeners) {
        const listener = new Pop3Listener(config, shared, await this.listenerTls(config));
        const address: AddressInfo = await listener.listen();
        this.listeners.push(listener);
        const info = { address: address.address, port: address.port, security: listenerSecurity(config) };
        this.bound.set(listener, info);
        bound.push(info);
        this.log.info({ component: 'pop3', address: address.address, port: address.port, security: listenerSecurity(config) }, 'listening');
      }
    } catch (error) {
      await this.stop();
      throw error;
    }
    return bound;
  }

  /** Each listening socket with its open sessions. */
  status(): ListenerStatus[] {
    return this.listeners.map((listener) => ({ ...this.bound.get(listener)!, sessions: listener.sessions }));
  }

  /** Addresses and ports listened on: the retriever's self-poll guard compares against them. */
  get boundListeners(): readonly BoundListener[] {
    return [...this.bound.values()];
  }

  async stop(): Promise<void> {
    this.bound.clear();
    const closing = this.listeners.splice(0).map((listener) => listener.close());
    for (const connection of this.connections) connection.shutdown();
    const deadline = Date.now() + SHUTDOWN_DEADLINE_MS;
    while (this.connections.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    await Promise.all(closing);
  }

  private async listenerTls(config: MailnodeConfig['pop3server']['listeners'][number]): Promise<ListenerTls | undefined> {
    if (!config.ssl) return undefined;
    const material = config.ssl.cert && config.ssl.key
      ? { cert: await readFile(config.ssl.cert), key: await readFile(config.ssl.key), generated: false }
      : this.tlsMaterial;
    if (!material) throw new Error(`listener ${config.interface}:${config.port ?? ''} needs a TLS certificate`);
    const clientCa = config.ssl.client_ca ? await readFile(config.ssl.client_ca) : undefined;
    return { context: secureContextFor(material, clientCa), requestCert: clientCa !== undefined };
  }
}
