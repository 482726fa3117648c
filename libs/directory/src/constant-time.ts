/**
 * Constant-time comparison of secrets and digests. Every comparison of a secret against
 * client input in this library goes through here, so timing cannot reveal how many leading
 * bytes matched.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * True when `a` and `b` hold the same bytes. Inputs of different lengths are first reduced to
 * SHA-256 digests so neither the position of the first difference nor (for plain passwords)
 * the stored length leaks through timing.
 */
export function constantTimeEqual(a: Uint8Array | string, b: Uint8Array | string): boolean {
  const left = typeof a === 'string' ? Buffer.from(a, 'utf8') : a;
  const right = typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
  const leftDigest = createHash('sha256').update(left).digest();
  const rightDigest = createHash('sha256').update(right).digest();
  // The digest comparison is the constant-time step; the length check only rules out
  // (astronomically unlikely) digest collisions between inputs of different lengths.
  return timingSafeEqual(leftDigest, rightDigest) && left.length === right.length;
}
