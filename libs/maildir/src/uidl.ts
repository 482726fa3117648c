import { createHash } from 'node:crypto';

const MAX_UIDL = 70;

/**
 * RFC 1939 UIDL from a file's unique part, so it survives new/→cur/ moves and flag renames.
 * Unique parts that are too long or not printable ASCII get a deterministic hash instead.
 */
const HASHED = /^h[0-9a-f]{32}$/;

export function uidlFor(unique: string): string {
  // A unique part that already looks like one of our hashes is hashed too, so a foreign file
  // named after another file's hash cannot take that file's UIDL.
  if (unique.length >= 1 && unique.length <= MAX_UIDL && isPrintable(unique) && !HASHED.test(unique)) return unique;
  return 'h' + createHash('sha256').update(unique, 'utf8').digest('hex').slice(0, 32);
}

function isPrintable(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}
