import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeHost, newUniqueName, parseMaildirName, uidlFor } from '../src/index.ts';

const isValidUidl = (u: string) => /^[\x21-\x7e]{1,70}$/.test(u);

describe('uidlFor', () => {
  it('uses the unique part when it is 1–70 printable characters', () => {
    const unique = newUniqueName('mx');
    expect(uidlFor(unique)).toBe(unique);
    expect(uidlFor('a'.repeat(70))).toBe('a'.repeat(70));
  });

  it('hashes overlong, empty and unprintable unique parts deterministically', () => {
    for (const unique of ['a'.repeat(71), '', 'with space', 'tab\there', 'caf\u00e9', 'del\x7f']) {
      const uidl = uidlFor(unique);
      expect(uidl).toMatch(/^h[0-9a-f]{32}$/);
      expect(uidlFor(unique)).toBe(uidl);
    }
    expect(uidlFor('a'.repeat(71))).not.toBe(uidlFor('a'.repeat(72)));
  });

  it('is stable across the new/ → cur/ move and flag renames', () => {
    const unique = newUniqueName(encodeHost('mx.example.org'));
    const inNew = `${unique},S=10,W=11`;
    const names = [inNew, `${inNew}:2,`, `${inNew}:2,S`, `${inNew}:2,RST`];
    const uidls = new Set(names.map((n) => uidlFor(parseMaildirName(n).unique)));
    expect(uidls.size).toBe(1);
  });

  it('always yields a valid RFC 1939 UIDL', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary-ascii', maxLength: 120 }), (s) => isValidUidl(uidlFor(s))),
      { numRuns: 300 },
    );
  });

  it('long host names give valid UIDLs too', () => {
    const unique = newUniqueName(encodeHost('a-very-long-host-name.subdomain.example.organisation.internal'));
    expect(isValidUidl(uidlFor(unique))).toBe(true);
  });
});
