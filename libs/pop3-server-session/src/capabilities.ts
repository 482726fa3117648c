/** The CAPA list (RFC 2449), which changes with TLS and login. */
import { saslMechanismsNow, decideAuth, type AuthPolicy } from './auth-policy.ts';

export interface CapabilityState {
  readonly policy: AuthPolicy;
  readonly tlsActive: boolean;
  readonly stlsAvailable: boolean;
  readonly clientCertificate: boolean;
  readonly loggedIn: boolean;
  /** Days, -1 for never (Mailismus `expire`). */
  readonly expire: number;
  readonly implementation: string;
}

export function capabilities(state: CapabilityState): string[] {
  const list = ['TOP', 'UIDL', 'RESP-CODES', 'AUTH-RESP-CODE', 'PIPELINING'];
  list.push(`EXPIRE ${state.expire < 0 ? 'NEVER' : state.expire}`);
  if (!state.loggedIn) {
    if (decideAuth(state.policy, 'USERPASS', state.tlsActive) === 'allowed') list.push('USER');
    const sasl = saslMechanismsNow(state.policy, state.tlsActive, state.clientCertificate);
    if (sasl.length) list.push(`SASL ${sasl.join(' ')}`);
    if (state.stlsAvailable && !state.tlsActive) list.push('STLS');
  }
  list.push(`IMPLEMENTATION ${state.implementation}`);
  return list;
}
