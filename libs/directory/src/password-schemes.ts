/**
 * Stored password formats, Dovecot style: `{SCHEME}value`, or plain text without a prefix.
 * Verification never throws on a malformed stored value (it just fails); parsers call
 * describeSecretProblem() up front so such entries are reported instead of silently useless.
 */
import { ARGON2_DEFAULT_PARAMS, argon2Hash, argon2Problem, argon2VerifyConstantTime, type Argon2Variant } from './argon2-scheme.ts';
import type { Argon2Params } from './argon2-scheme.ts';
import { BCRYPT_DEFAULT_COST, bcryptHash, bcryptProblem, bcryptVerifyTruncated, isBcryptHash } from './bcrypt-scheme.ts';
import { constantTimeEqual } from './constant-time.ts';
import { cramMd5Context, decodeCramMd5Context, encodeCramMd5Context } from './cram-md5.ts';
import { saltedDigestHash, saltedDigestProblem, saltedDigestVerify } from './salted-digest.ts';
import { parseShaCryptSetting, shaCrypt, shaCryptHash } from './sha-crypt.ts';
import type { VerifyCache } from './verify-cache.ts';

export const SUPPORTED_SCHEMES = [
  'PLAIN',
  'CLEARTEXT',
  'SHA512-CRYPT',
  'SHA256-CRYPT',
  'BLF-CRYPT',
  'ARGON2ID',
  'ARGON2I',
  /** OpenLDAP's argon2 module: the variant is read from the PHC string ($argon2id$ or $argon2i$). */
  'ARGON2',
  'CRAM-MD5',
  'SSHA',
  'SHA',
  'SSHA256',
  'SSHA512',
  'CRYPT',
] as const;

export type PasswordScheme = (typeof SUPPORTED_SCHEMES)[number];

/** What hashPassword() should be asked for when there is no reason to pick another scheme. */
export const DEFAULT_HASH_SCHEME: PasswordScheme = 'ARGON2ID';

export interface HashOptions {
  /** ARGON2ID / ARGON2I cost; defaults to ARGON2_DEFAULT_PARAMS (64 MiB, t=3, p=1). */
  readonly argon2?: Partial<Argon2Params>;
  /** BLF-CRYPT cost factor, 4..31; default 10. */
  readonly bcryptCost?: number;
  /** SHA-crypt rounds; omitted means the spec default (5000) and no `rounds=` in the output. */
  readonly shaCryptRounds?: number;
}

export interface VerifyOptions {
  /** Successful verifications of slow schemes are remembered here. */
  readonly cache?: VerifyCache;
}

const SCHEME_PREFIX = /^\{([A-Za-z0-9._-]+)\}/;

/** Splits `{SCHEME}value`; no prefix means PLAIN. The scheme name is upper-cased (names are case-insensitive). */
export function splitStoredSecret(stored: string): { readonly scheme: string; readonly value: string } {
  const match = SCHEME_PREFIX.exec(stored);
  if (!match) return { scheme: 'PLAIN', value: stored };
  return { scheme: match[1]!.toUpperCase(), value: stored.slice(match[0].length) };
}

function isSupported(scheme: string): scheme is PasswordScheme {
  return (SUPPORTED_SCHEMES as readonly string[]).includes(scheme);
}

/** Whether the stored value uses a scheme this library can verify ({CRYPT} only for $6$, $5$ and bcrypt). */
export function isKnownScheme(stored: string): boolean {
  const { scheme, value } = splitStoredSecret(stored);
  if (!isSupported(scheme)) return false;
  return scheme !== 'CRYPT' || parseShaCryptSetting(value) !== null || isBcryptHash(value);
}

/** null when `stored` can be verified; otherwise why not (unknown scheme, malformed value). */
export function describeSecretProblem(stored: string): string | null {
  const { scheme, value } = splitStoredSecret(stored);
  if (!isSupported(scheme)) return `unknown password scheme {${scheme}}`;
  switch (scheme) {
    case 'PLAIN':
    case 'CLEARTEXT':
      return null;
    case 'SHA512-CRYPT':
      return shaCryptProblem(value, '$6$');
    case 'SHA256-CRYPT':
      return shaCryptProblem(value, '$5$');
    case 'BLF-CRYPT':
      return bcryptProblem(value);
    case 'ARGON2ID':
      return argon2Problem('argon2id', value);
    case 'ARGON2I':
      return argon2Problem('argon2i', value);
    case 'ARGON2':
      return argon2Problem(argon2VariantOf(value), value);
    case 'CRAM-MD5':
      return decodeCramMd5Context(value) ? null : '{CRAM-MD5} value must be 64 hex digits';
    case 'CRYPT':
      if (value.startsWith('$6$')) return shaCryptProblem(value, '$6$');
      if (value.startsWith('$5$')) return shaCryptProblem(value, '$5$');
      if (isBcryptHash(value)) return bcryptProblem(value);
      return 'unsupported {CRYPT} format (only $6$, $5$ and $2y$/$2b$/$2a$; DES and MD5-crypt are refused)';
    case 'SHA':
    case 'SSHA':
    case 'SSHA256':
    case 'SSHA512':
      return saltedDigestProblem(scheme, value);
  }
}

function argon2VariantOf(value: string): Argon2Variant {
  return value.startsWith('$argon2i$') ? 'argon2i' : 'argon2id';
}

/** The plaintext password when stored as plain text (no prefix, {PLAIN}, {CLEARTEXT}); otherwise null. */
export function plaintextOf(stored: string): string | null {
  const { scheme, value } = splitStoredSecret(stored);
  return scheme === 'PLAIN' || scheme === 'CLEARTEXT' ? value : null;
}

/** Schemes designed to be slow; only these are worth caching. */
function isSlow(scheme: string): boolean {
  return ['SHA512-CRYPT', 'SHA256-CRYPT', 'BLF-CRYPT', 'ARGON2ID', 'ARGON2I', 'ARGON2', 'CRYPT'].includes(scheme);
}

/**
 * Whether `password` matches `stored`. Comparisons are constant-time; malformed or unsupported
 * stored values simply fail.
 */
export async function verifyPassword(stored: string, password: string, options: VerifyOptions = {}): Promise<boolean> {
  const { scheme, value } = splitStoredSecret(stored);
  if (describeSecretProblem(stored) !== null) return false;
  const cache = isSlow(scheme) ? options.cache : undefined;
  if (cache?.has(stored, password)) return true;
  const ok = await verifyValue(scheme as PasswordScheme, value, password);
  if (ok) cache?.remember(stored, password);
  return ok;
}

async function verifyValue(scheme: PasswordScheme, value: string, password: string): Promise<boolean> {
  switch (scheme) {
    case 'PLAIN':
    case 'CLEARTEXT':
      return constantTimeEqual(value, password);
    case 'SHA512-CRYPT':
    case 'SHA256-CRYPT':
      return constantTimeEqual(shaCrypt(password, value), value);
    case 'BLF-CRYPT':
      return bcryptVerifyTruncated(value, password);
    case 'ARGON2ID':
      return argon2VerifyConstantTime('argon2id', value, password);
    case 'ARGON2I':
      return argon2VerifyConstantTime('argon2i', value, password);
    case 'ARGON2':
      return argon2VerifyConstantTime(argon2VariantOf(value), value, password);
    case 'CRAM-MD5':
      return constantTimeEqual(encodeCramMd5Context(cramMd5Context(password)), value.toLowerCase());
    case 'CRYPT':
      return isBcryptHash(value) ? bcryptVerifyTruncated(value, password) : constantTimeEqual(shaCrypt(password, value), value);
    case 'SHA':
    case 'SSHA':
    case 'SSHA256':
    case 'SSHA512':
      return saltedDigestVerify(scheme, value, password);
  }
}

/** `{SCHEME}value` for `password`. {CRYPT} produces a SHA-512-crypt value. */
export async function hashPassword(scheme: string, password: string, options: HashOptions = {}): Promise<string> {
  const name = scheme.toUpperCase();
  if (!isSupported(name)) throw new RangeError(`unknown password scheme ${scheme}`);
  return `{${name}}${await hashValue(name, password, options)}`;
}

async function hashValue(scheme: PasswordScheme, password: string, options: HashOptions): Promise<string> {
  switch (scheme) {
    case 'PLAIN':
    case 'CLEARTEXT':
      return password;
    case 'SHA512-CRYPT':
    case 'CRYPT':
      return shaCryptHash(password, 'sha512', options.shaCryptRounds);
    case 'SHA256-CRYPT':
      return shaCryptHash(password, 'sha256', options.shaCryptRounds);
    case 'BLF-CRYPT': {
      const cost = options.bcryptCost ?? BCRYPT_DEFAULT_COST;
      if (!Number.isInteger(cost) || cost < 4 || cost > 31) throw new RangeError('bcrypt cost must be 4..31');
      return bcryptHash(password, cost);
    }
    case 'ARGON2ID':
      return argon2Hash('argon2id', password, { ...ARGON2_DEFAULT_PARAMS, ...options.argon2 });
    case 'ARGON2I':
      return argon2Hash('argon2i', password, { ...ARGON2_DEFAULT_PARAMS, ...options.argon2 });
    case 'ARGON2':
      return argon2Hash('argon2id', password, { ...ARGON2_DEFAULT_PARAMS, ...options.argon2 });
    case 'CRAM-MD5':
      return encodeCramMd5Context(cramMd5Context(password));
    case 'SHA':
    case 'SSHA':
    case 'SSHA256':
    case 'SSHA512':
      return saltedDigestHash(scheme, password);
  }
}

const SHA_CRYPT_SHAPES: Readonly<Record<string, RegExp>> = {
  $6$: /^\$6\$(?:rounds=\d{1,10}\$)?[^$]{0,16}\$[./0-9A-Za-z]{86}$/,
  $5$: /^\$5\$(?:rounds=\d{1,10}\$)?[^$]{0,16}\$[./0-9A-Za-z]{43}$/,
};

function shaCryptProblem(value: string, prefix: '$6$' | '$5$'): string | null {
  return SHA_CRYPT_SHAPES[prefix]!.test(value) ? null : `not a ${prefix}-crypt hash (${prefix}[rounds=N$]salt$hash)`;
}
