/**
 * SASL exchanges (RFC 5034) as pure steps: a mechanism starts with an optional initial response
 * and answers each client line with a challenge, finished credentials, or a failure reply.
 */
import type { Credentials } from '@mailnode/directory';
import { decodeBase64Strict, decodeUtf8, encodeBase64, errLine, parseCramMd5Response, parseSaslPlain } from '@mailnode/pop3-protocol';
import type { SaslMechanism } from './auth-policy.ts';

export type SaslState =
  | { readonly mechanism: 'PLAIN' }
  | { readonly mechanism: 'LOGIN'; readonly username?: string }
  | { readonly mechanism: 'CRAM-MD5'; readonly challenge: string }
  | { readonly mechanism: 'EXTERNAL' };

export type SaslStep =
  | { readonly kind: 'challenge'; readonly state: SaslState; readonly challenge: string }
  | { readonly kind: 'credentials'; readonly credentials: Credentials }
  | { readonly kind: 'fail'; readonly reply: string; readonly authFailure: boolean };

export interface SaslEnvironment {
  /** `<random.time@host>`, fresh per session. */
  readonly challenge: string;
  /** Common Name of a verified client certificate. */
  readonly clientName?: string;
}

const USERNAME_PROMPT = encodeBase64('Username:');
const PASSWORD_PROMPT = encodeBase64('Password:');

const malformed = (): SaslStep => ({ kind: 'fail', reply: errLine('Invalid base64 data or SASL message', 'AUTH'), authFailure: true });

/** `=` stands for an empty initial response (RFC 5034); a missing one means "send a challenge". */
export function startSasl(mechanism: SaslMechanism, initial: string | undefined, env: SaslEnvironment): SaslStep {
  switch (mechanism) {
    case 'PLAIN':
      return initial === undefined ? { kind: 'challenge', state: { mechanism }, challenge: '' } : continueSasl({ mechanism }, initial, env);
    case 'LOGIN':
      return initial === undefined
        ? { kind: 'challenge', state: { mechanism }, challenge: USERNAME_PROMPT }
        : continueSasl({ mechanism }, initial, env);
    case 'CRAM-MD5':
      if (initial !== undefined) return { kind: 'fail', reply: errLine('CRAM-MD5 takes no initial response'), authFailure: false };
      return { kind: 'challenge', state: { mechanism, challenge: env.challenge }, challenge: encodeBase64(env.challenge) };
    case 'EXTERNAL':
      return initial === undefined ? { kind: 'challenge', state: { mechanism }, challenge: '' } : continueSasl({ mechanism }, initial, env);
  }
}

export function continueSasl(state: SaslState, line: string, env: SaslEnvironment): SaslStep {
  if (line.trim() === '*') return { kind: 'fail', reply: errLine('Authentication cancelled'), authFailure: false };
  const data = line === '' || line === '=' ? Buffer.alloc(0) : decodeBase64Strict(line.trim());
  if (!data) return malformed();
  switch (state.mechanism) {
    case 'PLAIN': {
      const plain = parseSaslPlain(data);
      if (!plain) return malformed();
      if (plain.authzid && plain.authzid !== plain.authcid) {
        return { kind: 'fail', reply: errLine('Authorization identity must match the login name', 'AUTH'), authFailure: true };
      }
      return { kind: 'credentials', credentials: { mechanism: 'PASSWORD', username: plain.authcid, password: plain.password } };
    }
    case 'LOGIN': {
      // Strict decoding as for PLAIN: different bytes must never become the same name or password.
      const text = decodeUtf8(data);
      if (text === null || text.includes('\0')) return malformed();
      if (state.username === undefined) {
        if (!text) return malformed();
        return { kind: 'challenge', state: { mechanism: 'LOGIN', username: text }, challenge: PASSWORD_PROMPT };
      }
      return { kind: 'credentials', credentials: { mechanism: 'PASSWORD', username: state.username, password: text } };
    }
    case 'CRAM-MD5': {
      const response = parseCramMd5Response(data);
      if (!response) return malformed();
      return { kind: 'credentials', credentials: { mechanism: 'CRAM-MD5', username: response.username, challenge: state.challenge, digest: response.digest } };
    }
    case 'EXTERNAL': {
      if (!env.clientName) return { kind: 'fail', reply: errLine('No verified client certificate', 'AUTH'), authFailure: true };
      const authzid = decodeUtf8(data);
      if (authzid === null) return malformed();
      if (authzid && authzid !== env.clientName) {
        return { kind: 'fail', reply: errLine('Authorization identity must match the certificate', 'AUTH'), authFailure: true };
      }
      return { kind: 'credentials', credentials: { mechanism: 'EXTERNAL', username: env.clientName } };
    }
  }
}
