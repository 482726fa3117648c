/**
 * Which login methods a session may use, per the Mailismus `authtypes` / `authtypes_ssl` rules:
 * `authtypes_ssl` names the methods that need TLS. When it is not configured it defaults to
 *  - SASL_EXTERNAL when the listener has no SSL (nothing else makes sense without a certificate);
 *  - the whole of `authtypes` when SSL is mandatory (implicit TLS, or latent with mandatory=Y);
 *  - SASL_PLAIN and SASL_EXTERNAL when SSL is latent (STLS offered).
 */
import type { AuthType } from '@mailnode/config';

export type ListenerSecurity = 'none' | 'implicit' | 'latent' | 'latent-mandatory';

export interface AuthPolicy {
  readonly authtypes: ReadonlySet<AuthType>;
  readonly sslOnly: ReadonlySet<AuthType>;
}

export function resolveAuthPolicy(
  authtypes: ReadonlySet<AuthType>,
  authtypesSsl: ReadonlySet<AuthType> | undefined,
  security: ListenerSecurity,
): AuthPolicy {
  let sslOnly: ReadonlySet<AuthType>;
  if (security === 'latent-mandatory') sslOnly = authtypes;
  else if (authtypesSsl) sslOnly = authtypesSsl;
  else if (security === 'none') sslOnly = new Set<AuthType>(['SASL_EXTERNAL']);
  else if (security === 'implicit') sslOnly = authtypes;
  else sslOnly = new Set<AuthType>(['SASL_PLAIN', 'SASL_EXTERNAL']);
  // SASL EXTERNAL needs a client certificate whatever the configuration says.
  return { authtypes, sslOnly: new Set([...sslOnly, 'SASL_EXTERNAL']) };
}

/** Latent listeners (STLS) may upgrade; plain ones cannot and implicit ones already did. */
export function offersStls(security: ListenerSecurity): boolean {
  return security === 'latent' || security === 'latent-mandatory';
}

export type AuthDecision = 'allowed' | 'needs-tls' | 'disabled';

export function decideAuth(policy: AuthPolicy, type: AuthType, tlsActive: boolean): AuthDecision {
  if (!policy.authtypes.has(type)) return 'disabled';
  if (!tlsActive && policy.sslOnly.has(type)) return 'needs-tls';
  return 'allowed';
}

export const SASL_MECHANISMS = { PLAIN: 'SASL_PLAIN', LOGIN: 'SASL_LOGIN', 'CRAM-MD5': 'SASL_CRAM_MD5', EXTERNAL: 'SASL_EXTERNAL' } as const;
export type SaslMechanism = keyof typeof SASL_MECHANISMS;

export function isSaslMechanism(name: string): name is SaslMechanism {
  return Object.hasOwn(SASL_MECHANISMS, name);
}

/** SASL mechanisms usable right now, in the order we advertise them. */
export function saslMechanismsNow(policy: AuthPolicy, tlsActive: boolean, clientCertificate: boolean): SaslMechanism[] {
  return (Object.keys(SASL_MECHANISMS) as SaslMechanism[]).filter((mechanism) => {
    if (mechanism === 'EXTERNAL' && !clientCertificate) return false;
    return decideAuth(policy, SASL_MECHANISMS[mechanism], tlsActive) === 'allowed';
  });
}
