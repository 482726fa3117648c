/**
 * {ARGON2ID} / {ARGON2I}: PHC strings `$argon2id$v=19$m=..,t=..,p=..$salt$hash` as Dovecot and
 * libargon2 write them. The hash is recomputed with hash-wasm and compared in constant time
 * (hash-wasm's own argon2Verify compares the encoded strings with `===`). hash-wasm is imported
 * on first use: loading it costs ~20 ms of every start.
 */
import { randomBytes } from 'node:crypto';
import { decodeBase64Unpadded } from './base64.ts';
import { constantTimeEqual } from './constant-time.ts';

export type Argon2Variant = 'argon2id' | 'argon2i';

export interface Argon2Params {
  /** Memory in KiB. */
  readonly memoryKiB: number;
  readonly iterations: number;
  readonly parallelism: number;
}

/** Dovecot's defaults for ARGON2ID (libsodium "moderate"-like: 64 MiB, 3 passes, 1 lane). */
export const ARGON2_DEFAULT_PARAMS: Argon2Params = { memoryKiB: 65536, iterations: 3, parallelism: 1 };
const SALT_BYTES = 16;
const HASH_BYTES = 32;
// hash-wasm's (and the RFC 9106) lower bounds; stored values outside them cannot be verified.
const MIN_SALT_BYTES = 8;
const MIN_HASH_BYTES = 4;

const PHC = /^\$(argon2id|argon2i)\$v=19\$m=(\d{1,10}),t=(\d{1,10}),p=(\d{1,3})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

interface ParsedArgon2 {
  readonly variant: Argon2Variant;
  readonly params: Argon2Params;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

function parse(value: string): ParsedArgon2 | string {
  const match = PHC.exec(value);
  if (!match) return 'not an argon2 v=19 PHC string ($argon2id$v=19$m=..,t=..,p=..$salt$hash)';
  const [, variant, m, t, p, saltText, hashText] = match;
  const params = { memoryKiB: Number(m), iterations: Number(t), parallelism: Number(p) };
  const salt = decodeBase64Unpadded(saltText!);
  const hash = decodeBase64Unpadded(hashText!);
  if (!salt || salt.length < MIN_SALT_BYTES) return 'argon2 salt is malformed or shorter than 8 bytes';
  if (!hash || hash.length < MIN_HASH_BYTES) return 'argon2 hash is malformed or shorter than 4 bytes';
  if (params.iterations < 1 || params.parallelism < 1 || params.memoryKiB < 8 * params.parallelism) {
    return 'argon2 parameters are out of range';
  }
  return { variant: variant as Argon2Variant, params, salt, hash };
}

export function argon2Problem(variant: Argon2Variant, value: string): string | null {
  const parsed = parse(value);
  if (typeof parsed === 'string') return parsed;
  return parsed.variant === variant ? null : `value is ${parsed.variant}, not ${variant}`;
}

export async function argon2VerifyConstantTime(variant: Argon2Variant, value: string, password: string): Promise<boolean> {
  const parsed = parse(value);
  if (typeof parsed === 'string' || parsed.variant !== variant) return false;
  try {
    const actual = await compute(variant, password, parsed.salt, parsed.params, parsed.hash.length, 'binary');
    return constantTimeEqual(actual, parsed.hash);
  } catch {
    // hash-wasm rejects parameters it cannot run (e.g. memory beyond its limits): not a match.
    return false;
  }
}

export async function argon2Hash(variant: Argon2Variant, password: string, params: Argon2Params): Promise<string> {
  return compute(variant, password, randomBytes(SALT_BYTES), params, HASH_BYTES, 'encoded');
}

function compute(variant: Argon2Variant, password: string, salt: Uint8Array, params: Argon2Params, hashLength: number, outputType: 'binary'): Promise<Uint8Array>;
function compute(variant: Argon2Variant, password: string, salt: Uint8Array, params: Argon2Params, hashLength: number, outputType: 'encoded'): Promise<string>;
async function compute(
  variant: Argon2Variant,
  password: string,
  salt: Uint8Array,
  params: Argon2Params,
  hashLength: number,
  outputType: 'binary' | 'encoded',
): Promise<Uint8Array | string> {
  const { argon2i, argon2id } = await import('hash-wasm');
  const options = {
    // As bytes: hash-wasm refuses an empty *string* password, but an empty byte array is valid.
    password: Buffer.from(password, 'utf8'),
    salt,
    iterations: params.iterations,
    parallelism: params.parallelism,
    memorySize: params.memoryKiB,
    hashLength,
    outputType,
  };
  return variant === 'argon2id' ? argon2id(options) : argon2i(options);
}
