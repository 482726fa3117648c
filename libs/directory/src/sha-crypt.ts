/**
 * SHA-256-crypt ($5$) and SHA-512-crypt ($6$) as specified by Ulrich Drepper
 * ("Unix crypt using SHA-256 and SHA-512"), the formats glibc's crypt(3) and Dovecot's
 * SHA256-CRYPT / SHA512-CRYPT produce. Implemented here because node:crypto has no crypt(3).
 */
import { hash, randomBytes } from 'node:crypto';

export type ShaCryptVariant = 'sha256' | 'sha512';

export const SHA_CRYPT_DEFAULT_ROUNDS = 5000;
export const SHA_CRYPT_MIN_ROUNDS = 1000;
export const SHA_CRYPT_MAX_ROUNDS = 999_999_999;
const SALT_MAX_CHARS = 16;
const ROUNDS_PREFIX = 'rounds=';

const CRYPT_ALPHABET = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/**
 * The spec's output permutation: digest bytes are emitted in groups of three (the first index
 * supplies the high byte of each 24-bit group), then the remaining byte(s).
 */
const SHA512_GROUPS: readonly (readonly [number, number, number])[] = [
  [0, 21, 42], [22, 43, 1], [44, 2, 23], [3, 24, 45], [25, 46, 4], [47, 5, 26], [6, 27, 48],
  [28, 49, 7], [50, 8, 29], [9, 30, 51], [31, 52, 10], [53, 11, 32], [12, 33, 54], [34, 55, 13],
  [56, 14, 35], [15, 36, 57], [37, 58, 16], [59, 17, 38], [18, 39, 60], [40, 61, 19], [62, 20, 41],
];
const SHA256_GROUPS: readonly (readonly [number, number, number])[] = [
  [0, 10, 20], [21, 1, 11], [12, 22, 2], [3, 13, 23], [24, 4, 14],
  [15, 25, 5], [6, 16, 26], [27, 7, 17], [18, 28, 8], [9, 19, 29],
];

const VARIANTS = {
  sha256: { id: '5', groups: SHA256_GROUPS, digestBytes: 32 },
  sha512: { id: '6', groups: SHA512_GROUPS, digestBytes: 64 },
} as const;

export interface ShaCryptSetting {
  readonly variant: ShaCryptVariant;
  /** Already clamped to [SHA_CRYPT_MIN_ROUNDS, SHA_CRYPT_MAX_ROUNDS]. */
  readonly rounds: number;
  /** Whether `rounds=` appears in the output (only when it was given explicitly). */
  readonly explicitRounds: boolean;
  /** At most 16 characters. */
  readonly salt: string;
}

/**
 * Parses `$5$[rounds=N$]salt[$hash]` or `$6$...`; null when it is not a SHA-crypt string.
 * As in glibc, the salt stops at the first '$' and is cut to 16 characters.
 */
export function parseShaCryptSetting(setting: string): ShaCryptSetting | null {
  let variant: ShaCryptVariant;
  if (setting.startsWith('$5$')) variant = 'sha256';
  else if (setting.startsWith('$6$')) variant = 'sha512';
  else return null;
  let rest = setting.slice(3);
  let rounds = SHA_CRYPT_DEFAULT_ROUNDS;
  let explicitRounds = false;
  const roundsMatch = /^rounds=(\d{1,10})\$/.exec(rest);
  if (roundsMatch) {
    rounds = Math.min(Math.max(Number(roundsMatch[1]), SHA_CRYPT_MIN_ROUNDS), SHA_CRYPT_MAX_ROUNDS);
    explicitRounds = true;
    rest = rest.slice(roundsMatch[0].length);
  }
  const dollar = rest.indexOf('$');
  const salt = (dollar === -1 ? rest : rest.slice(0, dollar)).slice(0, SALT_MAX_CHARS);
  return { variant, rounds, explicitRounds, salt };
}

/** crypt(3) for SHA-crypt: `setting` is a full hash or just its `$N$[rounds=R$]salt` prefix. */
export function shaCrypt(password: string, setting: string): string {
  const parsed = parseShaCryptSetting(setting);
  if (!parsed) throw new RangeError('not a SHA-crypt setting ($5$ or $6$)');
  return shaCryptWith(password, parsed);
}

/** A fresh `$5$`/`$6$` hash with a random 16-character salt. */
export function shaCryptHash(password: string, variant: ShaCryptVariant, rounds?: number): string {
  const salt = [...randomBytes(SALT_MAX_CHARS)].map((byte) => CRYPT_ALPHABET[byte & 0x3f]).join('');
  const explicitRounds = rounds !== undefined;
  const clamped = Math.min(Math.max(rounds ?? SHA_CRYPT_DEFAULT_ROUNDS, SHA_CRYPT_MIN_ROUNDS), SHA_CRYPT_MAX_ROUNDS);
  return shaCryptWith(password, { variant, rounds: clamped, explicitRounds, salt });
}

function shaCryptWith(password: string, setting: ShaCryptSetting): string {
  const { id, groups, digestBytes } = VARIANTS[setting.variant];
  const H = (...parts: Uint8Array[]): Buffer => hash(setting.variant, Buffer.concat(parts), 'buffer');
  const P = Buffer.from(password, 'utf8');
  const S = Buffer.from(setting.salt, 'utf8');

  // Steps 4-8: digest B = H(P S P).
  const B = H(P, S, P);
  // Steps 1-3, 9-12: digest A = H(P S, B repeated to |P| bytes, then per bit of |P| B or P).
  const aParts: Uint8Array[] = [P, S, repeatTo(B, P.length)];
  for (let n = P.length; n > 0; n >>>= 1) aParts.push(n & 1 ? B : P);
  const A = H(...aParts);
  // Steps 13-16: P' from DP = H(P repeated |P| times).
  const pPrime = repeatTo(H(...Array<Uint8Array>(P.length).fill(P)), P.length);
  // Steps 17-20: S' from DS = H(S repeated 16 + A[0] times).
  const sPrime = repeatTo(H(...Array<Uint8Array>(16 + A[0]!).fill(S)), S.length);

  // Step 21: the rounds.
  let C = A;
  for (let i = 0; i < setting.rounds; i++) {
    const parts: Uint8Array[] = [i & 1 ? pPrime : C];
    if (i % 3 !== 0) parts.push(sPrime);
    if (i % 7 !== 0) parts.push(pPrime);
    parts.push(i & 1 ? C : pPrime);
    C = H(...parts);
  }

  let encoded = '';
  for (const [hi, mid, lo] of groups) encoded += b64From24Bit(C[hi]!, C[mid]!, C[lo]!, 4);
  encoded +=
    digestBytes === 64 ? b64From24Bit(0, 0, C[63]!, 2) : b64From24Bit(0, C[31]!, C[30]!, 3);

  const roundsPart = setting.explicitRounds ? `${ROUNDS_PREFIX}${setting.rounds}$` : '';
  return `$${id}$${roundsPart}${setting.salt}$${encoded}`;
}

/** The first `length` bytes of `block` repeated end to end. */
function repeatTo(block: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let offset = 0; offset < length; offset += block.length) block.copy(out, offset, 0, Math.min(block.length, length - offset));
  return out;
}

function b64From24Bit(b2: number, b1: number, b0: number, chars: number): string {
  let word = (b2 << 16) | (b1 << 8) | b0;
  let out = '';
  for (let i = 0; i < chars; i++) {
    out += CRYPT_ALPHABET[word & 0x3f];
    word >>>= 6;
  }
  return out;
}
