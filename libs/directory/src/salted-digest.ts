/**
 * The LDAP-style digest schemes {SHA}, {SSHA}, {SSHA256}, {SSHA512} as OpenLDAP and Dovecot
 * write them: base64(digest(password + salt) + salt), with no salt for {SHA}.
 */
import { createHash, randomBytes } from 'node:crypto';
import { decodeBase64Strict } from './base64.ts';
import { constantTimeEqual } from './constant-time.ts';

export type SaltedDigestScheme = 'SHA' | 'SSHA' | 'SSHA256' | 'SSHA512';

const ALGORITHMS: Readonly<Record<SaltedDigestScheme, { algorithm: string; digestBytes: number; salted: boolean }>> = {
  SHA: { algorithm: 'sha1', digestBytes: 20, salted: false },
  SSHA: { algorithm: 'sha1', digestBytes: 20, salted: true },
  SSHA256: { algorithm: 'sha256', digestBytes: 32, salted: true },
  SSHA512: { algorithm: 'sha512', digestBytes: 64, salted: true },
};

const SALT_BYTES = 8;

export function saltedDigestProblem(scheme: SaltedDigestScheme, value: string): string | null {
  const decoded = decodeBase64Strict(value);
  if (!decoded) return `{${scheme}} value is not valid base64`;
  const { digestBytes, salted } = ALGORITHMS[scheme];
  if (salted ? decoded.length <= digestBytes : decoded.length !== digestBytes) {
    return `{${scheme}} value has the wrong length`;
  }
  return null;
}

export function saltedDigestVerify(scheme: SaltedDigestScheme, value: string, password: string): boolean {
  if (saltedDigestProblem(scheme, value) !== null) return false;
  const decoded = decodeBase64Strict(value)!;
  const { algorithm, digestBytes } = ALGORITHMS[scheme];
  const salt = decoded.subarray(digestBytes);
  const expected = decoded.subarray(0, digestBytes);
  const actual = createHash(algorithm).update(password, 'utf8').update(salt).digest();
  return constantTimeEqual(actual, expected);
}

export function saltedDigestHash(scheme: SaltedDigestScheme, password: string): string {
  const { algorithm, salted } = ALGORITHMS[scheme];
  const salt = salted ? randomBytes(SALT_BYTES) : Buffer.alloc(0);
  const digest = createHash(algorithm).update(password, 'utf8').update(salt).digest();
  return Buffer.concat([digest, salt]).toString('base64');
}
