import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { anyOf, anyValueFilter, escapeFilterValue, fillFilter } from '../src/ldap/filter.ts';
import { mailboxLocationProblem } from '../src/ldap/mailbox-location.ts';
import { TtlCache } from '../src/ldap/ttl-cache.ts';

describe('RFC 4515 escaping', () => {
  it('escapes the five special characters and control bytes as \\XX', () => {
    expect(escapeFilterValue('*')).toBe('\\2a');
    expect(escapeFilterValue(')(uid=*')).toBe('\\29\\28uid=\\2a');
    expect(escapeFilterValue('a\\b')).toBe('a\\5cb');
    expect(escapeFilterValue('a\0b')).toBe('a\\00b');
    expect(escapeFilterValue('tab\there\x7f')).toBe('tab\\09here\\7f');
    expect(escapeFilterValue('jörg.o\'neil@example.org')).toBe('jörg.o\'neil@example.org');
  });

  it('leaves no unescaped filter syntax for any input', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (value) => {
        const escaped = escapeFilterValue(value);
        // Remove every escape; what remains must hold no filter metacharacter or control byte.
        expect(escaped.replace(/\\[0-9a-f]{2}/g, '')).not.toMatch(/[*()\\\0-\x1f\x7f]/);
      }),
      { numRuns: 300 },
    );
  });

  it('fills %u with the escaped value and keeps %% and unknown placeholders', () => {
    expect(fillFilter('(&(objectClass=inetOrgPerson)(uid=%u))', { u: '*)(uid=*' })).toBe('(&(objectClass=inetOrgPerson)(uid=\\2a\\29\\28uid=\\2a))');
    expect(fillFilter('(cn=%u%%)', { u: 'x' })).toBe('(cn=x%)');
    expect(fillFilter('(cn=%d)', { u: 'x' })).toBe('(cn=%d)');
  });

  it('turns %u into a presence filter and builds OR lists', () => {
    expect(anyValueFilter('(&(objectClass=person)(uid=%u))')).toBe('(&(objectClass=person)(uid=*))');
    expect(anyOf(['mail', 'mailLocalAddress'], ['a', 'a@x*'])).toBe('(|(mail=a)(mail=a@x\\2a)(mailLocalAddress=a)(mailLocalAddress=a@x\\2a))');
    expect(anyOf(['mail'], ['a'])).toBe('(mail=a)');
    expect(anyOf([], ['a'])).toBeNull();
  });
});

describe('mailbox locations from the directory', () => {
  it('accepts relative paths below the store root', () => {
    expect(mailboxLocationProblem('example.org/alice')).toBeNull();
    expect(mailboxLocationProblem('alice')).toBeNull();
  });

  it.each(['', '/var/mail/alice', '../alice', 'a/../../b', 'a//b', 'a/.hidden', 'a\\b', 'a/b\0', 'x'.repeat(256)])('refuses %j', (location) => {
    expect(mailboxLocationProblem(location)).not.toBeNull();
  });
});

describe('TtlCache', () => {
  it('expires entries after their own TTL and evicts the least recently used', () => {
    let now = 1000;
    const cache = new TtlCache<string>(2, () => now);
    cache.set('a', 'A', 100);
    cache.set('b', 'B', 10);
    now += 50;
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBe('A');
    cache.set('c', 'C', 100);
    cache.set('d', 'D', 100);
    expect(cache.get('a')).toBeUndefined();
    expect(cache.get('c')).toBe('C');
    expect(cache.size).toBe(2);
  });

  it('stores nothing with a TTL of 0 (cache off)', () => {
    const cache = new TtlCache<number>(10);
    cache.set('k', 1, 0);
    expect(cache.get('k')).toBeUndefined();
  });

  it('can hold a cached null (negative entry) distinct from a miss', () => {
    const cache = new TtlCache<string | null>(10);
    cache.set('nobody', null, 1000);
    expect(cache.get('nobody')).toBeNull();
    expect(cache.get('other')).toBeUndefined();
  });
});
