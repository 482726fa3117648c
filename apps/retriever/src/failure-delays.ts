/**
 * CommuniGate's "Delay Failed Hosts" and "Delay Failed Account": which failures pause what.
 * A host that cannot be reached (or greets badly, or fails TLS) pauses every client on it; a
 * refused login, a mailbox error or a link lost mid-session pauses only that client. Local
 * problems (recipient, delivery) pause nothing: the remote side did nothing wrong.
 */
import type { FailureStage } from '@mailnode/pop3-client-session';

export type FailureScope = 'host' | 'account' | 'none';

export function failureScope(stage: FailureStage): FailureScope {
  switch (stage) {
    case 'connect':
    case 'greeting':
    case 'tls':
      return 'host';
    case 'auth':
    case 'list':
    case 'download':
    case 'delete':
    case 'quit':
      return 'account';
    case 'recip':
    case 'deliver':
      return 'none';
  }
}

/** Hosts (host:port) that failed, and until when their clients wait. */
export class HostPauses {
  private readonly until = new Map<string, number>();

  pause(host: string, untilMs: number): void {
    this.until.set(host, Math.max(untilMs, this.until.get(host) ?? 0));
  }

  /** The end of the pause, or undefined when the host may be polled now. */
  pausedUntil(host: string, now = Date.now()): number | undefined {
    const until = this.until.get(host);
    if (until === undefined) return undefined;
    if (until > now) return until;
    this.until.delete(host);
    return undefined;
  }

  clear(host: string): void {
    this.until.delete(host);
  }
}
