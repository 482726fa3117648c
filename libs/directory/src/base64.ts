/**
 * Strict base64 decoding. Buffer.from(s, 'base64') silently skips invalid characters, which
 * would let a corrupted stored hash decode to something of the right length by accident.
 */
const PADDED = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const UNPADDED = /^[A-Za-z0-9+/]*$/;

/** Standard base64 with '=' padding; null when malformed. */
export function decodeBase64Strict(value: string): Buffer | null {
  return PADDED.test(value) ? Buffer.from(value, 'base64') : null;
}

/** Standard-alphabet base64 without padding, as in the PHC string format (argon2); null when malformed. */
export function decodeBase64Unpadded(value: string): Buffer | null {
  if (!UNPADDED.test(value) || value.length % 4 === 1) return null;
  return Buffer.from(value, 'base64');
}
