import { describe, expect, it } from 'vitest';
import {
  ARGON2_DEFAULT_PARAMS,
  DEFAULT_HASH_SCHEME,
  SUPPORTED_SCHEMES,
  describeSecretProblem,
  hashPassword,
  isKnownScheme,
  plaintextOf,
  splitStoredSecret,
  verifyPassword,
} from '../src/index.ts';

/** Stored values produced by Dovecot's `doveadm pw -s <scheme> -p pw-erin`. */
const DOVEADM_PW_ERIN: Readonly<Record<string, string>> = {
  'CRAM-MD5': '{CRAM-MD5}7de0f5c71652654d02744498ca67ce474a81e7ddd04e86af26fbb1f211c6f8d2',
  SSHA: '{SSHA}TkgyYu/sXpbQBOHA0ca/xb9zrjRGhwDB',
  SHA: '{SHA}DcmhK/rj5ykaOOv6eOCIMSCsiog=',
  SSHA256: '{SSHA256}LwQd5g1shr3OnXEUJxEv5Ccj2XlUK2h8RvbmihkuAxjgzrfo',
  SSHA512: '{SSHA512}GYkjLH2lTCMkNeGYjuPGcySD8uc7n3RFOM6Us97zuic+7V/4fzgKmI0lIS2yXxBQXXb6dycbTmxK22t7RB78yeMgtqE=',
  'SHA512-CRYPT':
    '{SHA512-CRYPT}$6$V5FVEJBGN/hATtkI$nE/bKOiXx3KeA7uYY3h993CsGK9W0165BqgUbWaCmKCQDXQbHDmZWL8uC22kT4MQYDCmU5/Elw9AYc3kBIGhC1',
  'SHA256-CRYPT': '{SHA256-CRYPT}$5$2039GMhowX87Ta/w$IR0UMCLIl/Sph3TvkO1sLOr9x9/YfN7W.Iw1xj3Dn72',
  'BLF-CRYPT': '{BLF-CRYPT}$2y$05$F4nrLFogOqRjogBDpg3bc.Q8N6bFzUhCgeltIOS1agcDxsUPJDjyW',
  // Dovecot's default argon2 parameters (64 MiB, t=3 / 32 MiB, t=4): the slow path, verified once each.
  ARGON2ID: '{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$+zRVy0s9YhSczyU7XC3uAQ$V/3fgyKzv4CIHg0hiCvCyl3bbmbOjmGC5FfNGxi4j2Q',
  ARGON2I: '{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$L/0gPY4sUCpL7WBjEDf/UA$+0QvIPsBZB7u95vSleUDg7+tpRmUJw7cz1iLcctd27I',
  // OpenLDAP's argon2 module writes {ARGON2} and names the variant inside the PHC string.
  ARGON2: '{ARGON2}$argon2i$v=19$m=32768,t=4,p=1$L/0gPY4sUCpL7WBjEDf/UA$+0QvIPsBZB7u95vSleUDg7+tpRmUJw7cz1iLcctd27I',
  PLAIN: '{PLAIN}pw-erin',
  CRYPT: '{CRYPT}$2y$05$CULIzdUGOMpPFJBsvvc/Tu.vTdE4rm.CcBIr5azlYxeNhBdhyUK3y',
};

/** Cheap parameters so round trips stay fast; defaults are exercised separately. */
const FAST = { argon2: { memoryKiB: 256, iterations: 1, parallelism: 1 }, bcryptCost: 4, shaCryptRounds: 1000 } as const;

describe('verifyPassword against Dovecot-generated values', () => {
  it.each(Object.entries(DOVEADM_PW_ERIN))('%s accepts the right password and rejects a wrong one', async (_scheme, stored) => {
    expect(await verifyPassword(stored, 'pw-erin')).toBe(true);
    expect(await verifyPassword(stored, 'pw-erim')).toBe(false);
    expect(await verifyPassword(stored, '')).toBe(false);
  });

  it.each([
    ['{BLF-CRYPT}$2y$05$hj.CQWVC4XyXu38Ua5O2U.hgG3ZrS8h7PxofTNeWyDOpZrX2x4WPm'],
    ['{SSHA256}YjNTCSQyB6AEwH0sOPTW7ZR+YtqOaXYa0CnwBqV0Zs6n7SH7'],
    ['{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$yG2Bngup8yBfo+fD5sn9lw$3JcNzeLQJ9zo5qHD90pHnAA8DBHUXUF1RV0q2mwlDz0'],
  ])('handles a non-ASCII password (%s)', async (stored) => {
    expect(await verifyPassword(stored, 'pässwörd:ü€')).toBe(true);
    expect(await verifyPassword(stored, 'passwort:u€')).toBe(false);
  });

  it('accepts scheme names in any case and treats an unprefixed value as plain text', async () => {
    expect(await verifyPassword(DOVEADM_PW_ERIN['SHA512-CRYPT']!.replace('{SHA512-CRYPT}', '{sha512-crypt}'), 'pw-erin')).toBe(true);
    expect(await verifyPassword('pw-erin', 'pw-erin')).toBe(true);
    expect(await verifyPassword('{cleartext}pw-erin', 'pw-erin')).toBe(true);
    // Without a scheme prefix, a crypt-looking string is just a plain password.
    expect(await verifyPassword(DOVEADM_PW_ERIN['SHA256-CRYPT']!.replace('{SHA256-CRYPT}', ''), 'pw-erin')).toBe(false);
  });
});

describe('hashPassword', () => {
  it.each([...SUPPORTED_SCHEMES])('%s round-trips through verifyPassword', async (scheme) => {
    const stored = await hashPassword(scheme, 'correct horse: battery ✓', FAST);
    expect(stored.startsWith(`{${scheme}}`)).toBe(true);
    expect(describeSecretProblem(stored)).toBeNull();
    expect(isKnownScheme(stored)).toBe(true);
    expect(await verifyPassword(stored, 'correct horse: battery ✓')).toBe(true);
    expect(await verifyPassword(stored, 'correct horse: battery ✗')).toBe(false);
  });

  it.each(['SSHA', 'SSHA256', 'SSHA512', 'SHA512-CRYPT', 'SHA256-CRYPT', 'BLF-CRYPT', 'ARGON2ID', 'ARGON2I'])(
    '%s salts every hash',
    async (scheme) => {
      expect(await hashPassword(scheme, 'same', FAST)).not.toBe(await hashPassword(scheme, 'same', FAST));
    },
  );

  it('produces the documented formats', async () => {
    expect(await hashPassword('PLAIN', 'pw')).toBe('{PLAIN}pw');
    expect(await hashPassword('cram-md5', 'pw-erin')).toBe(DOVEADM_PW_ERIN['CRAM-MD5']);
    expect(await hashPassword('SHA', 'pw-erin')).toBe(DOVEADM_PW_ERIN['SHA']);
    expect(await hashPassword('SHA512-CRYPT', 'pw')).toMatch(/^\{SHA512-CRYPT\}\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$/);
    expect(await hashPassword('BLF-CRYPT', 'pw', { bcryptCost: 4 })).toMatch(/^\{BLF-CRYPT\}\$2y\$04\$/);
    expect(await hashPassword('CRYPT', 'pw', FAST)).toMatch(/^\{CRYPT\}\$6\$rounds=1000\$/);
    expect(Buffer.from((await hashPassword('SSHA512', 'pw')).slice('{SSHA512}'.length), 'base64').length).toBeGreaterThan(64);
  });

  it('uses Dovecot-like argon2id defaults (64 MiB, t=3, p=1, 16-byte salt) and they verify', async () => {
    expect(DEFAULT_HASH_SCHEME).toBe('ARGON2ID');
    expect(ARGON2_DEFAULT_PARAMS).toEqual({ memoryKiB: 65536, iterations: 3, parallelism: 1 });
    const stored = await hashPassword(DEFAULT_HASH_SCHEME, 'default-params');
    expect(stored).toMatch(/^\{ARGON2ID\}\$argon2id\$v=19\$m=65536,t=3,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(await verifyPassword(stored, 'default-params')).toBe(true);
  });

  it('uses bcrypt cost 10 by default', async () => {
    expect(await hashPassword('BLF-CRYPT', 'pw')).toMatch(/^\{BLF-CRYPT\}\$2y\$10\$/);
  });

  it('rejects unknown schemes and bad bcrypt costs', async () => {
    await expect(hashPassword('MD5-CRYPT', 'pw')).rejects.toThrow(RangeError);
    await expect(hashPassword('BLF-CRYPT', 'pw', { bcryptCost: 3 })).rejects.toThrow(RangeError);
  });
});

describe('bcrypt 72-byte limit', () => {
  it('truncates like crypt_blowfish instead of failing', async () => {
    const long = 'x'.repeat(100);
    const stored = await hashPassword('BLF-CRYPT', long, FAST);
    expect(await verifyPassword(stored, long)).toBe(true);
    expect(await verifyPassword(stored, 'x'.repeat(72))).toBe(true);
    expect(await verifyPassword(stored, 'x'.repeat(71))).toBe(false);
  });
});

describe('stored value inspection', () => {
  it('splits scheme prefixes', () => {
    expect(splitStoredSecret('{ssha}abc')).toEqual({ scheme: 'SSHA', value: 'abc' });
    expect(splitStoredSecret('plain{text}')).toEqual({ scheme: 'PLAIN', value: 'plain{text}' });
    expect(splitStoredSecret('{not a scheme}x')).toEqual({ scheme: 'PLAIN', value: '{not a scheme}x' });
  });

  it('plaintextOf returns plain passwords only', () => {
    expect(plaintextOf('secret')).toBe('secret');
    expect(plaintextOf('{PLAIN}a:b')).toBe('a:b');
    expect(plaintextOf('{CLEARTEXT}x')).toBe('x');
    expect(plaintextOf(DOVEADM_PW_ERIN['CRAM-MD5']!)).toBeNull();
    expect(plaintextOf(DOVEADM_PW_ERIN['SSHA']!)).toBeNull();
  });

  it('isKnownScheme recognises supported schemes and refuses DES / MD5-crypt', () => {
    for (const stored of Object.values(DOVEADM_PW_ERIN)) expect(isKnownScheme(stored)).toBe(true);
    expect(isKnownScheme('no prefix')).toBe(true);
    expect(isKnownScheme('{FOO}bar')).toBe(false);
    expect(isKnownScheme('{MD5-CRYPT}$1$abc$def')).toBe(false);
    expect(isKnownScheme('{CRYPT}abJnggxhB/yWI')).toBe(false);
    expect(isKnownScheme('{CRYPT}$1$salt$qJH7.N4xYta3aEG/dfqo/0')).toBe(false);
    expect(isKnownScheme('{CRYPT}$6$salt$x')).toBe(true);
  });

  it.each([
    '{FOO}bar',
    '{CRYPT}abJnggxhB/yWI',
    '{CRYPT}$1$salt$qJH7.N4xYta3aEG/dfqo/0',
    '{SHA512-CRYPT}$5$2039GMhowX87Ta/w$IR0UMCLIl/Sph3TvkO1sLOr9x9/YfN7W.Iw1xj3Dn72',
    '{SHA512-CRYPT}garbage',
    '{BLF-CRYPT}$2y$05$short',
    '{ARGON2ID}$argon2i$v=19$m=32768,t=4,p=1$L/0gPY4sUCpL7WBjEDf/UA$+0QvIPsBZB7u95vSleUDg7+tpRmUJw7cz1iLcctd27I',
    '{ARGON2ID}$argon2id$v=16$m=65536,t=3,p=1$+zRVy0s9YhSczyU7XC3uAQ$V/3fgyKzv4CIHg0hiCvCyl3bbmbOjmGC5FfNGxi4j2Q',
    '{CRAM-MD5}1234',
    '{SSHA}not*base64',
    '{SHA}DcmhK/rj5ykaOOv6eOCIMSCsiog',
    '{SSHA512}AAAA',
  ])('describes why %s cannot be verified, and verification fails without throwing', async (stored) => {
    expect(describeSecretProblem(stored)).toEqual(expect.any(String));
    expect(await verifyPassword(stored, 'pw-erin')).toBe(false);
  });
});
