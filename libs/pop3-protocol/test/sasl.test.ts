import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  apopDigest,
  buildCramMd5Response,
  buildSaslPlain,
  cramMd5Digest,
  decodeBase64Strict,
  encodeBase64,
  findApopTimestamp,
  makeChallenge,
  parseCramMd5Response,
  parseSaslPlain,
} from '../src/index.ts';

describe('decodeBase64Strict', () => {
  it('decodes canonical base64', () => {
    expect(decodeBase64Strict('AHRpbQB0YW5zdGFhZnRhbnN0YWFm')?.toString('latin1')).toBe('\0tim\0tanstaaftanstaaf');
    expect(decodeBase64Strict('QQ==')?.toString()).toBe('A');
    expect(decodeBase64Strict('QUI=')?.toString()).toBe('AB');
    expect(decodeBase64Strict('+/+/')).toEqual(Buffer.from([0xfb, 0xff, 0xbf]));
  });

  it('treats "=" (RFC 5034 empty initial response) and "" as empty', () => {
    expect(decodeBase64Strict('=')).toEqual(Buffer.alloc(0));
    expect(decodeBase64Strict('')).toEqual(Buffer.alloc(0));
  });

  it('rejects what Node would silently accept', () => {
    for (const bad of ['QQ', 'QQ=', 'Q===', '====', 'QR==', 'QUJ=', ' QQ==', 'QQ==\n', 'QQ==QQ==', 'Q Q==', 'QQ-_', 'QQ.=', '*', '==', 'AB=C']) {
      expect(decodeBase64Strict(bad)).toBeNull();
    }
  });
});

describe('encodeBase64', () => {
  it('encodes buffers and UTF-8 strings', () => {
    expect(encodeBase64(Buffer.from([0, 1, 2]))).toBe('AAEC');
    expect(encodeBase64('é')).toBe('w6k=');
    expect(encodeBase64('')).toBe('');
  });
});

const BASE64_CHARS = /[A-Za-z0-9+/=]/;

describe('base64 (property)', () => {
  it('decodeBase64Strict(encodeBase64(x)) == x for any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(decodeBase64Strict(encodeBase64(Buffer.from(bytes)))).toEqual(Buffer.from(bytes));
      }),
      { numRuns: 500 },
    );
  });

  it('rejects a valid encoding with any character replaced by or inserted as a non-alphabet character', () => {
    const badChar = fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }).filter((c) => !BASE64_CHARS.test(c));
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 60 }), fc.nat(), badChar, fc.boolean(), (bytes, at, c, insert) => {
        const s = encodeBase64(Buffer.from(bytes));
        const i = at % s.length;
        const broken = insert ? s.slice(0, i) + c + s.slice(i) : s.slice(0, i) + c + s.slice(i + 1);
        expect(decodeBase64Strict(broken)).toBeNull();
      }),
      { numRuns: 500 },
    );
  });
});

describe('SASL PLAIN', () => {
  it('parses authzid, authcid and password (RFC 4616)', () => {
    expect(parseSaslPlain(Buffer.from('\0tim\0tanstaaftanstaaf'))).toEqual({ authzid: '', authcid: 'tim', password: 'tanstaaftanstaaf' });
    expect(parseSaslPlain(Buffer.from('admin\0bob\0pa ss wörd'))).toEqual({ authzid: 'admin', authcid: 'bob', password: 'pa ss wörd' });
  });

  it('rejects wrong NUL counts, empty fields and invalid UTF-8', () => {
    for (const bad of ['bobpass', '\0bobpass', '\0bob\0pass\0', '\0\0pass', '\0bob\0', '\0\0\0']) {
      expect(parseSaslPlain(Buffer.from(bad))).toBeNull();
    }
    expect(parseSaslPlain(Buffer.from([0, 0x62, 0, 0xff, 0xfe]))).toBeNull();
  });

  it('buildSaslPlain round-trips through parseSaslPlain and matches the RFC example', () => {
    expect(encodeBase64(buildSaslPlain('tim', 'tanstaaftanstaaf'))).toBe('AHRpbQB0YW5zdGFhZnRhbnN0YWFm');
    expect(parseSaslPlain(buildSaslPlain('bøb', 'p w', 'adm'))).toEqual({ authzid: 'adm', authcid: 'bøb', password: 'p w' });
    expect(() => buildSaslPlain('a\0b', 'x')).toThrow(RangeError);
  });
});

describe('CRAM-MD5', () => {
  const challenge = '<1896.697170952@postoffice.reston.mci.net>';

  it('computes the RFC 2195 example digest', () => {
    expect(cramMd5Digest('tanstaaftanstaaf', challenge)).toBe('b913a602c7eda7a495b4e6e7334d3890');
    expect(encodeBase64(buildCramMd5Response('tim', 'tanstaaftanstaaf', challenge))).toBe(
      'dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw',
    );
  });

  it('parses a response; the last space separates the user name', () => {
    expect(parseCramMd5Response(Buffer.from('tim b913a602c7eda7a495b4e6e7334d3890'))).toEqual({
      username: 'tim',
      digest: 'b913a602c7eda7a495b4e6e7334d3890',
    });
    expect(parseCramMd5Response(Buffer.from('john doe b913a602c7eda7a495b4e6e7334d3890'))?.username).toBe('john doe');
  });

  it('rejects malformed responses', () => {
    for (const bad of [
      'tim',
      ' b913a602c7eda7a495b4e6e7334d3890',
      'tim B913A602C7EDA7A495B4E6E7334D3890',
      'tim b913a602c7eda7a495b4e6e7334d389',
      'tim b913a602c7eda7a495b4e6e7334d38900',
      'tim b913a602c7eda7a495b4e6e7334d3890 ',
      'tim g913a602c7eda7a495b4e6e7334d3890',
    ]) {
      expect(parseCramMd5Response(Buffer.from(bad))).toBeNull();
    }
    expect(parseCramMd5Response(Buffer.concat([Buffer.from([0xff]), Buffer.from(' b913a602c7eda7a495b4e6e7334d3890')]))).toBeNull();
  });
});

describe('challenges and APOP', () => {
  it('makeChallenge builds <hex.timestamp@hostname> from caller-supplied randomness', () => {
    expect(makeChallenge('mail.example.org', Buffer.from([0xde, 0xad, 0xbe, 0xef]), 1700000000123)).toBe(
      '<deadbeef.1700000000123@mail.example.org>',
    );
    expect(makeChallenge('h', Buffer.from([1]), 12.9)).toBe('<01.12@h>');
  });

  it('makeChallenge refuses hostnames that would break the msg-id, and empty randomness', () => {
    for (const bad of ['', 'a b', 'a>b', '<a', 'a\r\n']) {
      expect(() => makeChallenge(bad, Buffer.from([1]), 1)).toThrow(RangeError);
    }
    expect(() => makeChallenge('h', Buffer.alloc(0), 1)).toThrow(RangeError);
    expect(() => makeChallenge('h', Buffer.from([1]), Number.NaN)).toThrow(RangeError);
  });

  it('apopDigest matches the RFC 1939 example', () => {
    expect(apopDigest('<1896.697170952@dbc.mtview.ca.us>', 'tanstaaf')).toBe('c4c9334bac560ecc979e58001b3e22fb');
  });

  it('findApopTimestamp extracts the banner timestamp', () => {
    expect(findApopTimestamp('POP3 server ready <1896.697170952@dbc.mtview.ca.us>')).toBe('<1896.697170952@dbc.mtview.ca.us>');
    expect(findApopTimestamp(makeChallenge('h.example', Buffer.from([7]), 5))).toBe('<07.5@h.example>');
    expect(findApopTimestamp('POP3 server ready')).toBeNull();
    expect(findApopTimestamp('ready <no-at-sign>')).toBeNull();
  });
});
