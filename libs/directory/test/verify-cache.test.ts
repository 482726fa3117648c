import { describe, expect, it } from 'vitest';
import { VerifyCache, hashPassword, verifyPassword } from '../src/index.ts';

describe('VerifyCache', () => {
  it('evicts the least recently used entry beyond its size', () => {
    const cache = new VerifyCache(2);
    cache.remember('s1', 'a');
    cache.remember('s2', 'b');
    expect(cache.has('s1', 'a')).toBe(true); // s1 is now the most recent
    cache.remember('s3', 'c');
    expect(cache.size).toBe(2);
    expect(cache.has('s2', 'b')).toBe(false);
    expect(cache.has('s1', 'a')).toBe(true);
    expect(cache.has('s3', 'c')).toBe(true);
  });

  it('keys on the exact (stored value, password) pair', () => {
    const cache = new VerifyCache(10);
    cache.remember('stored', 'pw');
    expect(cache.has('stored', 'pw')).toBe(true);
    expect(cache.has('stored', 'pw2')).toBe(false);
    expect(cache.has('stored2', 'pw')).toBe(false);
    // The separator keeps shifted splits apart.
    cache.remember('ab', 'c');
    expect(cache.has('a', 'bc')).toBe(false);
  });

  it('caches nothing at size 0 and rejects invalid sizes', () => {
    const cache = new VerifyCache(0);
    cache.remember('s', 'p');
    expect(cache.has('s', 'p')).toBe(false);
    expect(cache.size).toBe(0);
    expect(() => new VerifyCache(-1)).toThrow(RangeError);
    expect(() => new VerifyCache(1.5)).toThrow(RangeError);
  });
});

describe('verifyPassword with a cache', () => {
  const slowOptions = { argon2: { memoryKiB: 1024, iterations: 2, parallelism: 1 } };

  it('answers a repeated successful verification from the cache', async () => {
    const cache = new VerifyCache(10);
    const stored = await hashPassword('ARGON2ID', 'pw', slowOptions);
    expect(await verifyPassword(stored, 'pw', { cache })).toBe(true);
    expect(cache.stats).toEqual({ hits: 0, misses: 1 });
    expect(await verifyPassword(stored, 'pw', { cache })).toBe(true);
    expect(cache.stats).toEqual({ hits: 1, misses: 1 });
  });

  it('never caches failures', async () => {
    const cache = new VerifyCache(10);
    const stored = await hashPassword('SHA512-CRYPT', 'pw', { shaCryptRounds: 1000 });
    expect(await verifyPassword(stored, 'wrong', { cache })).toBe(false);
    expect(await verifyPassword(stored, 'wrong', { cache })).toBe(false);
    expect(cache.size).toBe(0);
    expect(cache.stats.hits).toBe(0);
  });

  it('misses when the stored value changes (password change)', async () => {
    const cache = new VerifyCache(10);
    const before = await hashPassword('BLF-CRYPT', 'pw', { bcryptCost: 4 });
    const after = await hashPassword('BLF-CRYPT', 'other', { bcryptCost: 4 });
    expect(await verifyPassword(before, 'pw', { cache })).toBe(true);
    expect(await verifyPassword(after, 'pw', { cache })).toBe(false);
    expect(cache.stats.hits).toBe(0);
  });

  it('does not spend cache entries on fast schemes', async () => {
    const cache = new VerifyCache(10);
    expect(await verifyPassword('{PLAIN}pw', 'pw', { cache })).toBe(true);
    expect(await verifyPassword(await hashPassword('SSHA512', 'pw'), 'pw', { cache })).toBe(true);
    expect(cache.size).toBe(0);
  });
});
