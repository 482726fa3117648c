/**
 * Where this mailnode listens, for the self-poll guard. The running POP3 server fills it in
 * once its sockets are bound; until then (or in `mailnode fetch`) the configured listeners count.
 */
import type { MailnodeConfig } from '@mailnode/config';
import type { OwnListener } from './self-poll-guard.ts';

export const OWN_LISTENERS = Symbol('OwnListeners');

export class OwnListenerSet {
  constructor(
    private readonly configured: readonly OwnListener[],
    /** The running server's bound sockets (ports chosen by the OS included); empty until it listens. */
    private readonly bound: () => readonly OwnListener[] = () => [],
  ) {}

  static fromConfig(config: MailnodeConfig, bound?: () => readonly OwnListener[]): OwnListenerSet {
    const server = config.pop3server;
    const listeners = server.enabled
      ? server.listeners.map((listener) => ({
          address: listener.interface,
          port: listener.port ?? (listener.ssl && !listener.ssl.latent ? 995 : 110),
        }))
      : [];
    return new OwnListenerSet(
      listeners.filter((listener) => listener.port !== 0),
      bound,
    );
  }

  list(): readonly OwnListener[] {
    const bound = this.bound();
    return bound.length > 0 ? bound : this.configured;
  }
}
