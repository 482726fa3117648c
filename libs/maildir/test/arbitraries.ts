/** fast-check generators for Maildir file names: ours, other deliverers', and junk. */
import fc from 'fast-check';
import { encodeHost, newUniqueName } from '../src/index.ts';

/** Any host name, including the characters the spec escapes ('/', ':') and ones it does not. */
export const hostArb: fc.Arbitrary<string> = fc.oneof(
  fc.domain(),
  fc.string({ unit: fc.constantFrom('a', 'b', '.', '-', '/', ':', ',', '\\', ' ', 'é', '\n', '='), minLength: 1, maxLength: 20 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }),
);

const seconds = fc.integer({ min: 0, max: 4_102_444_800 });
const small = fc.nat({ max: 999_999 });

/**
 * Unique parts (text before the first ',' or ':'): our own, Dovecot, Courier, qmail-style, and
 * arbitrary text without ',' and ':' (any Unicode, spaces, very long).
 */
export const uniquePartArb: fc.Arbitrary<string> = fc.oneof(
  hostArb.map((h) => newUniqueName(encodeHost(h))),
  fc.tuple(seconds, small, small, fc.domain()).map(([s, us, pid, h]) => `${s}.M${us}P${pid}.${h}`),
  fc.tuple(seconds, small, small, small, fc.domain()).map(([s, us, pid, v, h]) => `${s}.M${us}P${pid}V${v.toString(16)}I${us.toString(16)}.${h}`),
  fc.tuple(seconds, small, small, fc.domain()).map(([s, pid, n, h]) => `${s}.${pid}_${n}.${h}`),
  fc.tuple(seconds, small, fc.domain()).map(([s, pid, h]) => `${s}.${pid}.${h}`),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 90 }).filter((s) => !/[,:]/.test(s)),
  fc.string({ unit: 'binary-ascii', minLength: 60, maxLength: 80 }).filter((s) => !/[,:]/.test(s)),
);

/** A size field value as foreign deliverers might write it: usually digits, sometimes junk. */
export const sizeText: fc.Arbitrary<string> = fc.oneof(
  fc.nat({ max: 10_000_000 }).map(String),
  fc.constantFrom('', '-1', '+5', '1.5', '1e3', ' 7', '7 ', 'abc', '0x10', '١٢', '9'.repeat(15), '1'.repeat(16), '00012'),
);

/** The ",X=..." fields after the unique part of a name in new/ (no ':' inside). */
export const sizeFields: fc.Arbitrary<string[]> = fc.array(
  fc.oneof(
    sizeText.map((t) => `S=${t}`),
    sizeText.map((t) => `W=${t}`),
    fc.constantFrom('X=1', 'Z=abc', 'S', 'W', 's=5', 'w=5', '', 'S==5', 'SW=1'),
  ),
  { maxLength: 4 },
);

/** Maildir info flags (any order, duplicates, lowercase experimental ones, junk). */
export const flagsArb: fc.Arbitrary<string> = fc.string({ unit: fc.constantFrom('D', 'F', 'P', 'R', 'S', 'T', 'a', 'z', ',', ':', '2'), maxLength: 8 });

/** Reference for one size field: the value of the last well-formed `KEY=<1-15 digits>`, else undefined. */
export function lastCount(fields: readonly string[], key: 'S' | 'W'): number | undefined {
  let value: number | undefined;
  for (const f of fields) {
    const m = new RegExp(`^${key}=(\\d{1,15})$`).exec(f);
    if (m) value = Number(m[1]);
  }
  return value;
}
