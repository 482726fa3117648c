import { createHash } from 'node:crypto';

const MAX_UIDL = 70;

/**
 * RFC 1939 UIDL from a file's unique part, so it survives new/→cur/ moves and flag renames.
 * Unique parts that are too long or not printable ASCII get a deterministic hash instead.
 */
export function uidlFor(unique: string): string {
  if (unique.length >= 1 && unique.length <= MAX_UIDL && isPrintable(unique)) return unique;
  return 'h' + createHash('sha256').update(unique, 'utf8').digest('hex').slice(0, 32);
}

function isPrintable(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}
