/**
 * One POP3 listener (Mailismus `listener`): plain with STLS offered, or implicit TLS. Accepts
 * sockets, applies the connection limits and starts one session actor per connection.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import { randomBytes } from 'node:crypto';
import { createActor } from 'xstate';
import type { Logger } from '@mailnode/logging';
import type { Transcript } from '@mailnode/logging';
import type { Pop3ListenerConfig, Pop3ServerConfig } from '@mailnode/config';
import { errLine, makeChallenge } from '@mailnode/pop3-protocol';
import { offersStls, resolveAuthPolicy, type AuthPolicy, type ListenerSecurity } from '@mailnode/pop3-server-session';
import { Pop3Connection } from './connection.ts';
import type { ConnectionLimits } from './connection-limits.ts';
import type { ProvidedSessionMachine } from './session-effects.ts';
import { clientCommonName } from './tls-identity.ts';

/** Lines a client may pipeline before we stop reading its socket. */
export const MAX_QUEUED_LINES = 1024;

export interface ListenerShared {
  readonly server: Pop3ServerConfig;
  readonly machine: ProvidedSessionMachine;
  readonly limits: ConnectionLimits;
  readonly log: Logger;
  readonly transcript: Transcript;
  readonly hostname: string;
  readonly implementation: string;
  readonly nextSessionId: () => string;
  readonly connections: Set<Pop3Connection>;
}

export interface ListenerTls {
  readonly context: SecureContext;
  readonly requestCert: boolean;
}

export function listenerSecurity(config: Pop3ListenerConfig): ListenerSecurity {
  if (!config.ssl) return 'none';
  if (!config.ssl.latent) return 'implicit';
  return config.ssl.mandatory ? 'latent-mandatory' : 'latent';
}

export class Pop3Listener {
  private readonly netServer: Server;
  /** Sessions open on this listener, for `mailnode status`. */
  private open = 0;
  private readonly security: ListenerSecurity;
  private readonly policy: AuthPolicy;

  constructor(
    readonly config: Pop3ListenerConfig,
    private readonly shared: ListenerShared,
    private readonly tls: ListenerTls | undefined,
  ) {
    this.security = listenerSecurity(config);
    this.policy = resolveAuthPolicy(shared.server.authtypes, shared.server.authtypes_ssl, this.security);
    this.netServer = createServer({ noDelay: true }, (socket) => this.accept(socket));
  }

  get sessions(): number {
    return this.open;
  }

  get port(): number {
    return this.config.port ?? (this.security === 'implicit' ? 995 : 110);
  }

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.netServer.once('error', reject);
      // A backlog as deep as the connection cap: a burst of that many connects is not dropped by the kernel
      // (Linux caps it at net.core.somaxconn).
      this.netServer.listen({ host: this.config.interface, port: this.port, backlog: Math.max(1024, this.shared.server.limits.connections) }, () => {
        this.netServer.off('error', reject);
        resolve(this.netServer.address() as AddressInfo);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.netServer.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    const ip = socket.remoteAddress ?? 'unknown';
    socket.on('error', () => socket.destroy());
    const verdict = this.shared.limits.tryAcquire(ip);
    if (verdict !== 'ok') {
      this.shared.log.warn({ component: 'pop3', remote: ip, limit: verdict }, 'connection refused: limit reached');
      // An implicit-TLS client cannot read a plaintext reply; it just sees the close.
      if (this.security === 'implicit') socket.destroy();
      else socket.end(errLine(verdict === 'total' ? 'Too many connections, try later' : 'Too many connections from your address', 'IN-USE'));
      return;
    }
    socket.once('close', () => this.shared.limits.release(ip));
    if (this.security !== 'implicit') {
      this.startSession(socket, ip);
      return;
    }
    const secure = new TLSSocket(socket, { isServer: true, secureContext: this.tls!.context, requestCert: this.tls!.requestCert, rejectUnauthorized: false });
    secure.setTimeout(this.shared.server.timeout, () => secure.destroy());
    secure.on('error', () => secure.destroy());
    secure.once('secure', () => {
      secure.setTimeout(0);
      this.startSession(secure, ip, clientCommonName(secure));
    });
  }

  private startSession(socket: Socket, ip: string, clientName?: string): void {
    const { server, log, transcript } = this.shared;
    const id = this.shared.nextSessionId();
    const sessionLog = log.child({ component: 'pop3', session: id, remote: ip });
    const connection = new Pop3Connection(socket, {
      id,
      lineLength: server.limits.line_length,
      idleTimeoutMs: server.timeout,
      maxQueuedLines: MAX_QUEUED_LINES,
      transcript,
      tls: offersStls(this.security) ? this.tls : undefined,
    });
    this.shared.connections.add(connection);
    this.open++;
    transcript.note(id, `connection from ${ip} to port ${this.port}`);
    const actor = createActor(this.shared.machine, {
      input: {
        sessionId: id,
        io: connection,
        log: sessionLog,
        greet: server.greet,
        challenge: makeChallenge(this.shared.hostname, randomBytes(8), Date.now()),
        policy: this.policy,
        security: this.security,
        tlsActive: this.security === 'implicit',
        clientName,
        clientCertificates: this.tls?.requestCert ?? false,
        expire: server.expire,
        limits: {
          badCommands: server.limits.bad_commands,
          authFailures: server.limits.auth_failures,
          authFailureDelayMs: server.limits.auth_failure_delay,
        },
        wire: { outlookNoNuls: server.outlook_no_nuls, addMissingEoh: server.oe_ns_eoh },
        implementation: this.shared.implementation,
      },
    });
    connection.onClose(() => {
      this.shared.connections.delete(connection);
      this.open--;
      transcript.note(id, 'connection closed');
    });
    connection.bind(actor);
    actor.start();
  }
}
