/**
 * Hostile-input properties of the SASL building blocks: the strict base64 decoder and the PLAIN
 * and CRAM-MD5 message parsers see attacker-controlled bytes before any authentication.
 * (The base64 round trip and single-character corruption are in sasl.test.ts.)
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildCramMd5Response,
  buildSaslPlain,
  cramMd5Digest,
  decodeBase64Strict,
  encodeBase64,
  parseCramMd5Response,
  parseSaslPlain,
} from '../src/index.ts';
import { saslField } from './arbitraries.ts';

const NUM_RUNS = 300;

/** Strings that look base64-ish: the alphabet, padding, and a few near misses. */
const base64ish: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: fc.constantFrom(...'ABCQRwxyz019+/='.split('')), maxLength: 16 }),
  fc.string({ unit: fc.constantFrom(...'AQ+/=-_ .\n*'.split('')), maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
);

/** Buffers with NUL over-represented, plus invalid UTF-8 bytes. */
const plainMessage: fc.Arbitrary<Buffer> = fc
  .oneof(fc.uint8Array({ maxLength: 40 }), fc.array(fc.constantFrom(0x00, 0x00, 0x61, 0x62, 0xc3, 0xa9, 0xff, 0x20), { maxLength: 20 }))
  .map((a) => Buffer.from(a));

const countNuls = (b: Buffer) => b.reduce((n, x) => n + (x === 0 ? 1 : 0), 0);

describe('decodeBase64Strict (property)', () => {
  // Node's Buffer.from(s, 'base64') skips junk; a credential check must never see "garbage in,
  // some bytes out". Anything accepted must be the one canonical encoding of what it decodes to.
  it('never throws; whatever it accepts is the canonical encoding of the result', () => {
    fc.assert(
      fc.property(base64ish, (s) => {
        const out = decodeBase64Strict(s);
        if (out === null) return;
        if (s === '=' || s === '') expect(out.length).toBe(0);
        else expect(encodeBase64(out)).toBe(s);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('rejects any truncation or extension of a valid encoding that breaks the 4-character framing', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 3 }), fc.boolean(), (bytes, k, cut) => {
        const s = encodeBase64(Buffer.from(bytes));
        const broken = cut ? s.slice(0, -k) : s + 'A=='.slice(0, k);
        expect(decodeBase64Strict(broken)).toBeNull();
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

describe('parseSaslPlain (property)', () => {
  it('splits authzid / authcid / password correctly for any NUL-free UTF-8 values', () => {
    fc.assert(
      fc.property(saslField(0), saslField(1), saslField(1), (authzid, authcid, password) => {
        const msg = buildSaslPlain(authcid, password, authzid);
        expect(parseSaslPlain(msg)).toEqual({ authzid, authcid, password });
        // and through the wire form
        expect(parseSaslPlain(decodeBase64Strict(encodeBase64(msg))!)).toEqual({ authzid, authcid, password });
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('never throws on any bytes, and rejects anything without exactly two NULs', () => {
    fc.assert(
      fc.property(plainMessage, (buf) => {
        const r = parseSaslPlain(buf);
        if (countNuls(buf) !== 2) expect(r).toBeNull();
        if (r !== null) {
          // Accepted: the three fields re-assemble to exactly the input bytes (no lossy decoding).
          expect(Buffer.from(`${r.authzid}\0${r.authcid}\0${r.password}`, 'utf8')).toEqual(buf);
          expect(r.authcid).not.toBe('');
          expect(r.password).not.toBe('');
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('an extra NUL inside any field makes the message invalid', () => {
    fc.assert(
      fc.property(saslField(0), saslField(1), saslField(1), fc.nat(), (authzid, authcid, password, at) => {
        const msg = Buffer.from(`${authzid}\0${authcid}\0${password}`, 'utf8');
        const i = at % (msg.length + 1);
        expect(parseSaslPlain(Buffer.concat([msg.subarray(0, i), Buffer.from([0]), msg.subarray(i)]))).toBeNull();
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('buildSaslPlain refuses a NUL in any field instead of building an ambiguous message', () => {
    fc.assert(
      fc.property(saslField(0), saslField(0), fc.nat({ max: 2 }), (a, b, which) => {
        const fields = ['user', 'pass', 'zid'];
        fields[which] = a + '\0' + b;
        expect(() => buildSaslPlain(fields[0]!, fields[1]!, fields[2]!)).toThrow(RangeError);
      }),
      { numRuns: 100 },
    );
  });
});

describe('CRAM-MD5 response (property)', () => {
  it('round-trips: parse(build(user, password, challenge)) gives the user and the HMAC-MD5 digest', () => {
    fc.assert(
      fc.property(saslField(1), saslField(0), fc.string({ maxLength: 40 }), (user, password, challenge) => {
        const parsed = parseCramMd5Response(buildCramMd5Response(user, password, challenge));
        expect(parsed).toEqual({ username: user, digest: cramMd5Digest(password, challenge) });
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('never throws; an accepted response is "<non-empty name> <32 lowercase hex>" and nothing else', () => {
    const hexish = fc.string({ unit: fc.constantFrom(...'0123456789abcdefABG '.split('')), minLength: 30, maxLength: 34 });
    const response = fc.oneof(
      fc.tuple(fc.string({ unit: 'binary', maxLength: 10 }), hexish).map(([u, d]) => Buffer.from(`${u} ${d}`, 'utf8')),
      fc.uint8Array({ maxLength: 50 }).map((a) => Buffer.from(a)),
    );
    fc.assert(
      fc.property(response, (buf) => {
        const r = parseCramMd5Response(buf);
        if (r === null) return;
        expect(r.digest).toMatch(/^[0-9a-f]{32}$/);
        expect(r.username.length).toBeGreaterThan(0);
        expect(Buffer.from(`${r.username} ${r.digest}`, 'utf8')).toEqual(buf);
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
