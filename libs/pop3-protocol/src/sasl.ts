/**
 * SASL and APOP building blocks (RFC 1939 APOP, RFC 5034 POP3 SASL, RFC 4616 PLAIN,
 * RFC 2195 CRAM-MD5). Pure: randomness and time are supplied by the caller.
 */
import { createHash, createHmac } from 'node:crypto';

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Strict base64: whole quads, standard alphabet, correct padding, canonical trailing bits.
 * Node's own decoder silently skips garbage, which would let malformed credentials through.
 * "=" alone is the RFC 5034 zero-length initial response; "" (an empty line) is also empty.
 */
export function decodeBase64Strict(s: string): Buffer | null {
  if (s === '=' || s === '') return Buffer.alloc(0);
  if (s.length % 4 !== 0 || !BASE64.test(s)) return null;
  const buf = Buffer.from(s, 'base64');
  // Non-zero bits in the unused tail ("QR==" vs "QQ==") decode to the same bytes; reject them.
  return buf.toString('base64') === s ? buf : null;
}

export function encodeBase64(b: Buffer | string): string {
  return (typeof b === 'string' ? Buffer.from(b, 'utf8') : b).toString('base64');
}

// fatal: invalid UTF-8 is an error, not silently replaced by U+FFFD (that would let two
// different byte strings authenticate as the same name).
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Strict UTF-8 (null for invalid bytes), for every SASL field that becomes a name or password. */
export function decodeUtf8(buf: Uint8Array): string | null {
  try {
    return utf8.decode(buf);
  } catch {
    return null;
  }
}

export interface SaslPlain {
  authzid: string;
  authcid: string;
  password: string;
}

/** RFC 4616 message: [authzid] NUL authcid NUL passwd, exactly two NULs, UTF-8. */
export function parseSaslPlain(buf: Buffer): SaslPlain | null {
  const a = buf.indexOf(0);
  if (a === -1) return null;
  const b = buf.indexOf(0, a + 1);
  if (b === -1 || buf.indexOf(0, b + 1) !== -1) return null;
  if (b === a + 1 || b === buf.length - 1) return null;
  const authzid = decodeUtf8(buf.subarray(0, a));
  const authcid = decodeUtf8(buf.subarray(a + 1, b));
  const password = decodeUtf8(buf.subarray(b + 1));
  if (authzid === null || authcid === null || password === null) return null;
  return { authzid, authcid, password };
}

/** Client side: the PLAIN message (before base64). NULs inside the fields would make it ambiguous. */
export function buildSaslPlain(user: string, password: string, authzid = ''): Buffer {
  if (user.includes('\0') || password.includes('\0') || authzid.includes('\0')) {
    throw new RangeError('SASL PLAIN fields must not contain NUL');
  }
  return Buffer.from(`${authzid}\0${user}\0${password}`, 'utf8');
}

const HEX_DIGEST = /^[0-9a-f]{32}$/;

/** RFC 2195 response: user name, space, 32 lowercase hex digits. The name may contain spaces, so the last space splits. */
export function parseCramMd5Response(buf: Buffer): { username: string; digest: string } | null {
  const s = decodeUtf8(buf);
  if (s === null) return null;
  const sp = s.lastIndexOf(' ');
  if (sp <= 0) return null;
  const digest = s.slice(sp + 1);
  if (!HEX_DIGEST.test(digest)) return null;
  return { username: s.slice(0, sp), digest };
}

/** Client side: HMAC-MD5 of the (decoded) challenge keyed by the password, lowercase hex. */
export function cramMd5Digest(password: string, challenge: string): string {
  return createHmac('md5', password).update(challenge, 'utf8').digest('hex');
}

/** Client side: the CRAM-MD5 response message (before base64). */
export function buildCramMd5Response(user: string, password: string, challenge: string): Buffer {
  return Buffer.from(`${user} ${cramMd5Digest(password, challenge)}`, 'utf8');
}

// Printable ASCII without space or angle brackets, so the challenge stays one msg-id token.
const HOSTNAME = /^[\x21-\x3b\x3d\x3f-\x7e]+$/;

/**
 * A `<hex.timestamp@hostname>` msg-id, used as the APOP banner timestamp and the CRAM-MD5
 * challenge. It must never repeat, so the caller supplies fresh random bytes.
 */
export function makeChallenge(hostname: string, random: Buffer, now: number): string {
  if (!HOSTNAME.test(hostname)) throw new RangeError(`invalid hostname for a challenge: ${JSON.stringify(hostname)}`);
  if (random.length === 0) throw new RangeError('challenge needs random bytes');
  if (!Number.isFinite(now)) throw new RangeError(`invalid time for a challenge: ${now}`);
  return `<${random.toString('hex')}.${Math.trunc(now)}@${hostname}>`;
}

/** Client side: the APOP digest, MD5(timestamp + password) in lowercase hex (RFC 1939). */
export function apopDigest(timestamp: string, password: string): string {
  return createHash('md5').update(timestamp + password, 'utf8').digest('hex');
}

const BANNER_TIMESTAMP = /<[^<>\s]+@[^<>\s]+>/;

/** Client side: the APOP timestamp in a server greeting, or null if it offers none. */
export function findApopTimestamp(greeting: string): string | null {
  const m = BANNER_TIMESTAMP.exec(greeting);
  return m ? m[0] : null;
}
