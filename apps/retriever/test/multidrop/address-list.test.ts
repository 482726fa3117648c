/** parseAddressList: RFC 5322 address lists down to bare addr-specs. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseAddressList } from '../../src/multidrop/index.ts';

describe('parseAddressList', () => {
  it('reads a bare address, as Delivered-To and X-Original-To write it', () => {
    expect(parseAddressList('alice@example.com')).toEqual(['alice@example.com']);
  });

  it('reads several addresses, with and without display names and brackets', () => {
    expect(parseAddressList('Alice <alice@example.com>, bob@example.com, "Carol C." <carol@example.com>')).toEqual([
      'alice@example.com',
      'bob@example.com',
      'carol@example.com',
    ]);
  });

  it('reads angle-bracket-only values', () => {
    expect(parseAddressList('<alice@example.com>')).toEqual(['alice@example.com']);
    expect(parseAddressList('<alice@example.com>,<bob@example.com>')).toEqual(['alice@example.com', 'bob@example.com']);
  });

  it('lower-cases the domain but keeps the local part as given', () => {
    expect(parseAddressList('John.Smith@EXAMPLE.Com')).toEqual(['John.Smith@example.com']);
  });

  it('keeps commas inside quoted display names from splitting the list', () => {
    expect(parseAddressList('"Doe, John" <john@example.com>, "Roe, Jane (HR)" <jane@example.com>')).toEqual(['john@example.com', 'jane@example.com']);
  });

  it('skips the stray word of a display name with an unquoted comma', () => {
    expect(parseAddressList('Doe, John <john@example.com>')).toEqual(['john@example.com']);
  });

  it('keeps quoted local parts that hold @ and commas, quoted', () => {
    expect(parseAddressList('"john,doe@home"@example.com, x@example.com')).toEqual(['"john,doe@home"@example.com', 'x@example.com']);
    expect(parseAddressList('Odd <"a \\"b\\" c"@example.com>')).toEqual(['"a \\"b\\" c"@example.com']);
  });

  it('drops quotes a local part does not need', () => {
    expect(parseAddressList('"john.doe"@example.com')).toEqual(['john.doe@example.com']);
  });

  it('ignores comments, nested ones and comments holding brackets or @', () => {
    expect(parseAddressList('alice@example.com (Alice (the boss) <boss@evil.org>), bob(x)@(y)example.com')).toEqual([
      'alice@example.com',
      'bob@example.com',
    ]);
  });

  it('reads group syntax and drops the group name', () => {
    expect(parseAddressList('undisclosed-recipients:;')).toEqual([]);
    expect(parseAddressList('team: a@example.com, B <b@example.com>;, c@example.com')).toEqual(['a@example.com', 'b@example.com', 'c@example.com']);
  });

  it('tolerates obs forms: routes, spaces around dots, trailing dot, domain literals', () => {
    expect(parseAddressList('<@relay.example.net,@hop.example.net:alice@example.com>')).toEqual(['alice@example.com']);
    expect(parseAddressList('john . smith @ example . com')).toEqual(['john.smith@example.com']);
    expect(parseAddressList('alice@example.com.')).toEqual(['alice@example.com']);
    expect(parseAddressList('postmaster@[192.0.2.1]')).toEqual(['postmaster@[192.0.2.1]']);
  });

  it('drops RFC 2047 encoded display names', () => {
    expect(parseAddressList('=?UTF-8?Q?J=C3=B6rg_M=C3=BCller?= <joerg@example.com>')).toEqual(['joerg@example.com']);
  });

  it('deduplicates, keeping the first position', () => {
    expect(parseAddressList('a@example.com, b@example.com, A <a@EXAMPLE.com>')).toEqual(['a@example.com', 'b@example.com']);
  });

  it('accepts a lone bare local part (sendmail X-Real-To: $u) but not a word inside a list', () => {
    expect(parseAddressList('alice')).toEqual(['alice']);
    expect(parseAddressList('<alice>')).toEqual(['alice']);
    expect(parseAddressList('alice, bob@example.com')).toEqual(['bob@example.com']);
    expect(parseAddressList('John Doe')).toEqual([]);
  });

  it('yields [] for empty values and garbage', () => {
    for (const garbage of ['', '   ', '<>', '@@@', ',,,', '<@example.com>', 'a@', '@example.com', '"unterminated@example.com', 'a@b@', ':;:;']) {
      expect(parseAddressList(garbage), garbage).toEqual([]);
    }
  });

  it('never throws and returns only strings with no surrounding whitespace', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'ab@.,;:<>()"\\[] \tx'.split('')), maxLength: 40 }), (value) => {
        const addresses = parseAddressList(value);
        return addresses.every((a) => a === a.trim() && a !== '');
      }),
    );
  });
});
