/**
 * CRAM-MD5 (RFC 2195) and Dovecot's {CRAM-MD5} stored form: 64 hex digits holding the MD5
 * state after the HMAC outer pad block, then after the inner pad block (Dovecot's
 * hmac_md5_get_cram_context order), each as four little-endian words. It lets the server
 * answer CRAM-MD5 without storing the plaintext, though the value is still password-equivalent.
 */
import { createHash, createHmac } from 'node:crypto';
import { MD5_BLOCK_BYTES, Md5Context, md5StateFromBytes, md5StateToBytes } from './md5-context.ts';
import type { Md5State } from './md5-context.ts';

export interface CramMd5Context {
  readonly inner: Md5State;
  readonly outer: Md5State;
}

const CONTEXT_HEX = /^[0-9a-f]{64}$/i;

/** HMAC-MD5 precomputation: the states after hashing key^ipad and key^opad. */
export function cramMd5Context(password: string): CramMd5Context {
  let key: Buffer = Buffer.from(password, 'utf8');
  // RFC 2104: keys longer than the block are hashed first.
  if (key.length > MD5_BLOCK_BYTES) key = createHash('md5').update(key).digest();
  const inner = Buffer.alloc(MD5_BLOCK_BYTES, 0x36);
  const outer = Buffer.alloc(MD5_BLOCK_BYTES, 0x5c);
  for (let i = 0; i < key.length; i++) {
    inner[i]! ^= key[i]!;
    outer[i]! ^= key[i]!;
  }
  return { inner: new Md5Context().update(inner).state(), outer: new Md5Context().update(outer).state() };
}

export function encodeCramMd5Context(context: CramMd5Context): string {
  return Buffer.concat([md5StateToBytes(context.outer), md5StateToBytes(context.inner)]).toString('hex');
}

/** null when `value` is not 64 hex digits. */
export function decodeCramMd5Context(value: string): CramMd5Context | null {
  if (!CONTEXT_HEX.test(value)) return null;
  const bytes = Buffer.from(value, 'hex');
  return { outer: md5StateFromBytes(bytes.subarray(0, 16)), inner: md5StateFromBytes(bytes.subarray(16, 32)) };
}

/** HMAC-MD5(key, challenge) resumed from a precomputed context, as lowercase hex. */
export function cramMd5DigestFromContext(context: CramMd5Context, challenge: string): string {
  const innerDigest = new Md5Context(context.inner, MD5_BLOCK_BYTES).update(challenge).digest();
  return new Md5Context(context.outer, MD5_BLOCK_BYTES).update(innerDigest).digest().toString('hex');
}

/** HMAC-MD5(password, challenge) as lowercase hex: what a CRAM-MD5 client sends after its name. */
export function cramMd5Digest(password: string, challenge: string): string {
  return createHmac('md5', password).update(challenge).digest('hex');
}
