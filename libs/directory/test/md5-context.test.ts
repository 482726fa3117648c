import { createHash, createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cramMd5Context, cramMd5Digest, cramMd5DigestFromContext, decodeCramMd5Context, encodeCramMd5Context } from '../src/cram-md5.ts';
import { MD5_INITIAL_STATE, Md5Context, md5StateFromBytes, md5StateToBytes } from '../src/md5-context.ts';

const md5 = (data: Uint8Array | string) => createHash('md5').update(data).digest('hex');

describe('Md5Context', () => {
  it.each([
    ['', 'd41d8cd98f00b204e9800998ecf8427e'],
    ['a', '0cc175b9c0f1b6a831c399e269772661'],
    ['abc', '900150983cd24fb0d6963f7d28e17f72'],
    ['message digest', 'f96b697d7cb7938d525a2f31aaf161d0'],
    ['12345678901234567890123456789012345678901234567890123456789012345678901234567890', '57edf4a22be3c955ac49da2e2107b67a'],
  ])('matches the RFC 1321 vector for %j', (input, expected) => {
    expect(new Md5Context().update(input).digest().toString('hex')).toBe(expected);
  });

  it('matches node:crypto for arbitrary data fed in arbitrary chunks', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(300), { maxLength: 6 }), (data, cuts) => {
        const context = new Md5Context();
        let offset = 0;
        for (const cut of [...cuts].sort((a, b) => a - b)) {
          context.update(data.subarray(offset, Math.max(offset, cut)));
          offset = Math.max(offset, Math.min(cut, data.length));
        }
        context.update(data.subarray(offset));
        expect(context.digest().toString('hex')).toBe(md5(data));
      }),
    );
  });

  it('resumes from an exported state at a block boundary', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 64, maxLength: 64 }), fc.uint8Array({ maxLength: 200 }), (block, rest) => {
        const state = new Md5Context().update(block).state();
        const resumed = new Md5Context(state, 64).update(rest).digest().toString('hex');
        expect(resumed).toBe(md5(Buffer.concat([block, rest])));
      }),
    );
  });

  it('round-trips states through bytes and refuses mid-block use', () => {
    expect(md5StateFromBytes(md5StateToBytes(MD5_INITIAL_STATE))).toEqual(MD5_INITIAL_STATE);
    expect(() => new Md5Context().update('abc').state()).toThrow(RangeError);
    expect(() => new Md5Context(MD5_INITIAL_STATE, 10)).toThrow(RangeError);
    const finished = new Md5Context();
    finished.digest();
    expect(() => finished.update('x')).toThrow();
  });
});

describe('CRAM-MD5 context', () => {
  it('computes HMAC-MD5 from the precomputed context exactly like node:crypto', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 100, unit: 'binary' }), fc.string({ maxLength: 120 }), (password, challenge) => {
        const viaContext = cramMd5DigestFromContext(cramMd5Context(password), challenge);
        expect(viaContext).toBe(createHmac('md5', password).update(challenge).digest('hex'));
      }),
    );
  });

  it('handles keys longer than one block (hashed first, RFC 2104)', () => {
    const password = 'k'.repeat(100);
    const challenge = '<1.2@host>';
    expect(cramMd5DigestFromContext(cramMd5Context(password), challenge)).toBe(createHmac('md5', password).update(challenge).digest('hex'));
  });

  it('matches the RFC 2195 example', () => {
    const challenge = '<1896.697170952@postoffice.reston.mci.net>';
    expect(cramMd5Digest('tanstaaftanstaaf', challenge)).toBe('b913a602c7eda7a495b4e6e7334d3890');
    expect(cramMd5DigestFromContext(cramMd5Context('tanstaaftanstaaf'), challenge)).toBe('b913a602c7eda7a495b4e6e7334d3890');
  });

  it.each([
    ['pw-erin', '7de0f5c71652654d02744498ca67ce474a81e7ddd04e86af26fbb1f211c6f8d2'],
    ['pw-alice', '2213a6fb49a2303debc5adc604033f26fb2868a5263346d7f453904213761388'],
    ['pässwörd:ü€', '9fc1c93ab1e76ae8bdc908267534f963e63e1b4d56ccf6ff265f0a9f816ec28f'],
    ['k'.repeat(100), '3ae21d35bcb420cc10d678a30813dfaff1c856d356b2c5f8429dc6087392415f'],
  ])('produces the same stored value as doveadm pw -s CRAM-MD5 for %j', (password, stored) => {
    expect(encodeCramMd5Context(cramMd5Context(password))).toBe(stored);
    const decoded = decodeCramMd5Context(stored.toUpperCase());
    expect(decoded).not.toBeNull();
    expect(cramMd5DigestFromContext(decoded!, '<x@y>')).toBe(createHmac('md5', password).update('<x@y>').digest('hex'));
  });

  it('rejects values that are not 64 hex digits', () => {
    expect(decodeCramMd5Context('abc')).toBeNull();
    expect(decodeCramMd5Context('g'.repeat(64))).toBeNull();
  });
});
