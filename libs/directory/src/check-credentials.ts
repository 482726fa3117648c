/**
 * Checks client credentials against a user's stored secret, per mechanism. Backend-neutral:
 * any Directory that can produce the stored secret (users file, LDAP userPassword) can use it.
 */
import { createHash } from 'node:crypto';
import type { AuthResult, Credentials, DirectoryUser } from './contract.ts';
import { constantTimeEqual } from './constant-time.ts';
import { cramMd5Digest, cramMd5DigestFromContext, decodeCramMd5Context } from './cram-md5.ts';
import { plaintextOf, splitStoredSecret, verifyPassword } from './password-schemes.ts';
import type { VerifyCache } from './verify-cache.ts';

export interface StoredAccount {
  readonly user: DirectoryUser;
  /** null when the account cannot log in. */
  readonly secret: string | null;
}

const BAD_CREDENTIALS: AuthResult = { ok: false, reason: 'bad-credentials' };
const MECHANISM_UNAVAILABLE: AuthResult = { ok: false, reason: 'mechanism-unavailable' };

/** `account` null means no such user. */
export async function checkCredentials(
  account: StoredAccount | null,
  credentials: Credentials,
  cache?: VerifyCache,
): Promise<AuthResult> {
  if (!account || !account.user.canLogin || account.secret === null) return BAD_CREDENTIALS;
  const { user, secret } = account;
  const granted: AuthResult = { ok: true, user };
  switch (credentials.mechanism) {
    case 'EXTERNAL':
      // The transport (e.g. a TLS client certificate) already proved the identity.
      return granted;
    case 'PASSWORD':
      if (credentials.password === '') return BAD_CREDENTIALS;
      return (await verifyPassword(secret, credentials.password, cache ? { cache } : {})) ? granted : BAD_CREDENTIALS;
    case 'APOP': {
      const plaintext = plaintextOf(secret);
      if (plaintext === null) return MECHANISM_UNAVAILABLE;
      const expected = createHash('md5').update(credentials.timestamp + plaintext, 'utf8').digest('hex');
      return constantTimeEqual(expected, credentials.digest.toLowerCase()) ? granted : BAD_CREDENTIALS;
    }
    case 'CRAM-MD5': {
      const expected = cramMd5Expected(secret, credentials.challenge);
      if (expected === null) return MECHANISM_UNAVAILABLE;
      return constantTimeEqual(expected, credentials.digest.toLowerCase()) ? granted : BAD_CREDENTIALS;
    }
  }
}

/** The digest a CRAM-MD5 client must send, or null when the stored secret cannot produce it. */
function cramMd5Expected(secret: string, challenge: string): string | null {
  const plaintext = plaintextOf(secret);
  if (plaintext !== null) return cramMd5Digest(plaintext, challenge);
  const { scheme, value } = splitStoredSecret(secret);
  const context = scheme === 'CRAM-MD5' ? decodeCramMd5Context(value) : null;
  return context ? cramMd5DigestFromContext(context, challenge) : null;
}
