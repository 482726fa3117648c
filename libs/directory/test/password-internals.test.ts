/**
 * White-box checks with the comparison and hashing primitives wrapped in spies: secrets are
 * compared through constantTimeEqual, and a cache hit skips the slow hash entirely.
 */
import { createHash, createHmac } from 'node:crypto';
import { beforeEach, describe, expect, it, vi } from 'vitest';

vi.mock('../src/constant-time.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/constant-time.ts')>();
  return { constantTimeEqual: vi.fn(real.constantTimeEqual) };
});
vi.mock('../src/sha-crypt.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/sha-crypt.ts')>();
  return { ...real, shaCrypt: vi.fn(real.shaCrypt) };
});

const { constantTimeEqual } = await import('../src/constant-time.ts');
const { shaCrypt } = await import('../src/sha-crypt.ts');
const { checkCredentials, hashPassword, verifyPassword, VerifyCache } = await import('../src/index.ts');

const compare = vi.mocked(constantTimeEqual);
const crypt = vi.mocked(shaCrypt);

beforeEach(() => {
  compare.mockClear();
  crypt.mockClear();
});

describe('constant-time comparison', () => {
  it.each(['PLAIN', 'SSHA', 'SHA', 'SSHA256', 'SSHA512', 'SHA512-CRYPT', 'SHA256-CRYPT', 'CRAM-MD5', 'ARGON2ID', 'ARGON2I'])(
    'is used when verifying %s',
    async (scheme) => {
    const stored = await hashPassword(scheme, 'secret', { argon2: { memoryKiB: 256, iterations: 1, parallelism: 1 }, shaCryptRounds: 1000 });
    compare.mockClear();
    expect(await verifyPassword(stored, 'wrong')).toBe(false);
    expect(compare).toHaveBeenCalled();
    },
  );

  it('is used for APOP and CRAM-MD5 digests', async () => {
    const account = { user: { name: 'alice', canLogin: true }, secret: 'pw' };
    const apop = createHash('md5').update('<t@h>pw').digest('hex');
    expect(await checkCredentials(account, { mechanism: 'APOP', username: 'alice', timestamp: '<t@h>', digest: apop })).toMatchObject({ ok: true });
    expect(compare).toHaveBeenCalledWith(apop, apop);
    compare.mockClear();
    const cram = createHmac('md5', 'pw').update('<c@h>').digest('hex');
    expect(await checkCredentials(account, { mechanism: 'CRAM-MD5', username: 'alice', challenge: '<c@h>', digest: cram })).toMatchObject({
      ok: true,
    });
    expect(compare).toHaveBeenCalledWith(cram, cram);
  });
});

describe('verify cache hit path', () => {
  it('skips the SHA-crypt computation on a hit and recomputes after a miss', async () => {
    const cache = new VerifyCache(10);
    const stored = await hashPassword('SHA512-CRYPT', 'pw', { shaCryptRounds: 1000 });
    crypt.mockClear();
    expect(await verifyPassword(stored, 'pw', { cache })).toBe(true);
    expect(crypt).toHaveBeenCalledTimes(1);
    expect(await verifyPassword(stored, 'pw', { cache })).toBe(true);
    expect(crypt).toHaveBeenCalledTimes(1);
    expect(await verifyPassword(stored, 'not-pw', { cache })).toBe(false);
    expect(crypt).toHaveBeenCalledTimes(2);
  });
});
