/**
 * Hostile-input properties of Maildir file-name parsing. Names in a mailbox come from us, from
 * other deliverers (Dovecot, Courier, qmail) and from MUAs renaming files for flags; the UIDL
 * derived from them must stay valid and stable whatever they look like.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { curFileName, deliveryTime, encodeHost, newFileName, newUniqueName, parseMaildirName, uidlFor, withSizes } from '../src/index.ts';
import { flagsArb, hostArb, lastCount, sizeFields, uniquePartArb } from './arbitraries.ts';

const NUM_RUNS = 300;
const VALID_UIDL = /^[\x21-\x7e]{1,70}$/;

/** Names in new/: a unique part and ",X=..." fields. */
const baseName = fc.tuple(uniquePartArb, sizeFields).map(([unique, fields]) => ({ unique, fields, name: [unique, ...fields].join(',') }));

describe('parseMaildirName never throws (property)', () => {
  it('any string: unique is the text before the first "," or ":", info is everything after the first ":"', () => {
    const anyName = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 80 }),
      fc.string({ unit: fc.constantFrom('1', '.', ',', ':', '2', 'S', 'W', '=', 'x', 'é', ' '), maxLength: 30 }),
    );
    fc.assert(
      fc.property(anyName, (name) => {
        const p = parseMaildirName(name);
        expect(name.startsWith(p.unique)).toBe(true);
        expect(p.unique).not.toMatch(/[,:]/);
        expect([undefined, ',', ':']).toContain(name[p.unique.length]);
        const colon = name.indexOf(':');
        expect(p.info).toBe(colon < 0 ? undefined : name.slice(colon + 1));
        expect(p.flags).toBe(p.info?.startsWith('2,') ? p.info.slice(2) : undefined);
        for (const n of [p.size, p.wireSize]) if (n !== undefined) expect(Number.isSafeInteger(n) && n >= 0).toBe(true);
        // The time parser sees the same unique parts.
        const t = deliveryTime(p.unique);
        expect(t.micros >= 0 && (Number.isFinite(t.seconds) || t.seconds === Number.POSITIVE_INFINITY)).toBe(true);
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

describe('sizes (property)', () => {
  // S= and W= let LIST/STAT answer without a stat() per message; a malformed foreign field must
  // be ignored (fall back to stat), never misread.
  it('S= / W= parse when well-formed (the last valid one wins) and are ignored when malformed, for any unique part', () => {
    fc.assert(
      fc.property(baseName, fc.option(flagsArb, { nil: undefined }), ({ unique, fields, name }, flags) => {
        const full = flags === undefined ? name : `${name}:2,${flags}`;
        const p = parseMaildirName(full);
        expect(p.unique).toBe(unique);
        expect(p.size).toBe(lastCount(fields, 'S'));
        expect(p.wireSize).toBe(lastCount(fields, 'W'));
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('withSizes / newFileName names always parse back to exactly those sizes, keeping the unique part', () => {
    const count = fc.oneof(fc.nat(), fc.integer({ min: 0, max: 999_999_999_999_999 }));
    fc.assert(
      fc.property(baseName, count, count, ({ unique, name }, size, wire) => {
        const rewritten = parseMaildirName(withSizes(name, size, wire));
        expect(rewritten).toEqual({ unique, size, wireSize: wire });
        expect(parseMaildirName(newFileName(unique, size, wire))).toEqual({ unique, size, wireSize: wire });
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

describe('stability under renames (property)', () => {
  // The UIDL is derived from the unique part, so a client's "already downloaded" list only works
  // if new/ -> cur/ moves and flag changes by other MUAs leave unique part and sizes untouched.
  it('new/ -> cur/ and any flag change keep unique part, sizes and UIDL; flags come back sorted', () => {
    fc.assert(
      fc.property(baseName, flagsArb, flagsArb, ({ name }, f1, f2) => {
        const inNew = parseMaildirName(name);
        const names = [curFileName(name), curFileName(name, f1), curFileName(name, f2), `${name}:2,${f1}`, `${name}:1,${f2}`];
        for (const n of names) {
          const p = parseMaildirName(n);
          expect(p.unique).toBe(inNew.unique);
          expect(p.size).toBe(inNew.size);
          expect(p.wireSize).toBe(inNew.wireSize);
          expect(uidlFor(p.unique)).toBe(uidlFor(inNew.unique));
        }
        expect(parseMaildirName(curFileName(name, f1)).flags).toBe([...f1].sort().join(''));
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('our own names keep the whole (escaped) host in the unique part, for any host', () => {
    fc.assert(
      fc.property(hostArb, fc.nat(), fc.nat(), flagsArb, (host, size, wire, flags) => {
        const unique = newUniqueName(encodeHost(host));
        expect(unique).not.toMatch(/[,:/]/);
        expect(parseMaildirName(curFileName(newFileName(unique, size, wire), flags))).toMatchObject({ unique, size, wireSize: wire });
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

/** Unique parts that look exactly like our hashed UIDLs ("h" + 32 lowercase hex). */
const HASH_SHAPED = /^h[0-9a-f]{32}$/;

describe('UIDL from any name (property)', () => {
  it('is always 1-70 characters of 0x21-0x7E, and deterministic', () => {
    const anyName = fc.oneof(baseName.map((b) => b.name), fc.string({ unit: 'binary', maxLength: 120 }), fc.string({ unit: 'binary-ascii', maxLength: 120 }));
    fc.assert(
      fc.property(anyName, flagsArb, (name, flags) => {
        const uidl = uidlFor(parseMaildirName(`${name}:2,${flags}`).unique);
        expect(uidl).toMatch(VALID_UIDL);
        expect(uidlFor(parseMaildirName(name).unique)).toBe(uidl);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('distinct unique parts give distinct UIDLs (RFC 1939: unique within the maildrop)', () => {
    fc.assert(
      fc.property(uniquePartArb, uniquePartArb, (a, b) => {
        fc.pre(a !== b && !HASH_SHAPED.test(a) && !HASH_SHAPED.test(b));
        expect(uidlFor(a)).not.toBe(uidlFor(b));
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('distinct unique parts give distinct UIDLs even when one looks like a hashed UIDL', () => {
    const pair = uniquePartArb.chain((a) => fc.tuple(fc.constant(a), fc.oneof(uniquePartArb, fc.constant(uidlFor(a)))));
    fc.assert(
      fc.property(pair, ([a, b]) => {
        fc.pre(a !== b);
        expect(uidlFor(a)).not.toBe(uidlFor(b));
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
