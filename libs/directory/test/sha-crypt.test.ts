import { describe, expect, it } from 'vitest';
import { parseShaCryptSetting, shaCrypt, shaCryptHash } from '../src/sha-crypt.ts';

// Test vectors from Ulrich Drepper's "Unix crypt using SHA-256 and SHA-512" specification.
// (The first $5$ value ends in ...GNooZaBBGWEc5, as glibc crypt(3) and `openssl passwd -5` also give.)
const SPEC_VECTORS: readonly (readonly [setting: string, password: string, expected: string])[] = [
  ['$5$saltstring', 'Hello world!', '$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5'],
  ['$5$rounds=10000$saltstringsaltstring', 'Hello world!', '$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA'],
  ['$5$rounds=5000$toolongsaltstring', 'This is just a test', '$5$rounds=5000$toolongsaltstrin$Un/5jzAHMgOGZ5.mWJpuVolil07guHPvOW8mGRcvxa5'],
  [
    '$5$rounds=1400$anotherlongsaltstring',
    'a very much longer text to encrypt.  This one even stretches over morethan one line.',
    '$5$rounds=1400$anotherlongsalts$Rx.j8H.h8HjEDGomFU8bDkXm3XIUnzyxf12oP84Bnq1',
  ],
  ['$5$rounds=77777$short', 'we have a short salt string but not a short password', '$5$rounds=77777$short$JiO1O3ZpDAxGJeaDIuqCoEFysAe1mZNJRs3pw0KQRd/'],
  ['$5$rounds=123456$asaltof16chars..', 'a short string', '$5$rounds=123456$asaltof16chars..$gP3VQ/6X7UUEW3HkBn2w1/Ptq2jxPyzV/cZKmF/wJvD'],
  ['$5$rounds=10$roundstoolow', 'the minimum number is still observed', '$5$rounds=1000$roundstoolow$yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC'],
  [
    '$6$saltstring',
    'Hello world!',
    '$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1',
  ],
  [
    '$6$rounds=10000$saltstringsaltstring',
    'Hello world!',
    '$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.',
  ],
  [
    '$6$rounds=5000$toolongsaltstring',
    'This is just a test',
    '$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0',
  ],
  [
    '$6$rounds=1400$anotherlongsaltstring',
    'a very much longer text to encrypt.  This one even stretches over morethan one line.',
    '$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1',
  ],
  [
    '$6$rounds=77777$short',
    'we have a short salt string but not a short password',
    '$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0',
  ],
  [
    '$6$rounds=123456$asaltof16chars..',
    'a short string',
    '$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1',
  ],
  [
    '$6$rounds=10$roundstoolow',
    'the minimum number is still observed',
    '$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX.',
  ],
];

// Produced by Dovecot's `doveadm pw`, an independent crypt(3) implementation.
const DOVEADM_VECTORS: readonly (readonly [password: string, hash: string])[] = [
  ['pw-bob', '$6$q2pjrx4JX.TeWZ9Z$FFDvUv4jOGfmBKU0UhqmsOaU9DG5f7UOZB35gl87ndw09aHMnu2lGwk25srIhxCoRn0fX2zqiKPytH4ks2owF1'],
  ['pw-erin', '$5$2039GMhowX87Ta/w$IR0UMCLIl/Sph3TvkO1sLOr9x9/YfN7W.Iw1xj3Dn72'],
  ['Hello world!', '$5$rounds=10000$6pM.K3MI8H20/./x$yFDIXQDyTJlmEupBRlaBSFuw0oD5XHrJ.TSm/BF.bD5'],
  ['pässwörd:ü€', '$6$m.JJfTtl.P3zeZto$74ubub612iXf5ZXDYRuhf9cmWBOCKKrn872HsjHmnadfHBhwrAaJsnF1J298nOshi7gBhPrOdphHfKl74VxG0.'],
];

describe('shaCrypt', () => {
  it.each(SPEC_VECTORS)('matches the specification vector %s', (setting, password, expected) => {
    expect(shaCrypt(password, setting)).toBe(expected);
    // Verification recomputes from the full stored hash, which must reproduce itself.
    expect(shaCrypt(password, expected)).toBe(expected);
  });

  it.each(DOVEADM_VECTORS)('reproduces Dovecot hash for %s', (password, hash) => {
    expect(shaCrypt(password, hash)).toBe(hash);
  });

  it('gives a different hash for a different password', () => {
    const [setting, password, expected] = SPEC_VECTORS[0]!;
    expect(shaCrypt(`${password} `, setting)).not.toBe(expected);
  });

  it('handles empty passwords and salts', () => {
    expect(shaCrypt('', '$6$$')).toMatch(/^\$6\$\$[./0-9A-Za-z]{86}$/);
    expect(shaCrypt('', '$5$salt')).toMatch(/^\$5\$salt\$[./0-9A-Za-z]{43}$/);
  });

  it('rejects settings that are not SHA-crypt', () => {
    expect(() => shaCrypt('x', '$1$salt$')).toThrow(RangeError);
    expect(parseShaCryptSetting('$2y$10$abc')).toBeNull();
  });

  it('parses settings: default rounds, clamping, salt truncation', () => {
    expect(parseShaCryptSetting('$6$abc$hash')).toEqual({ variant: 'sha512', rounds: 5000, explicitRounds: false, salt: 'abc' });
    expect(parseShaCryptSetting('$5$rounds=10$abc')).toMatchObject({ variant: 'sha256', rounds: 1000, explicitRounds: true });
    expect(parseShaCryptSetting('$5$rounds=9999999999$abc')).toMatchObject({ rounds: 999_999_999 });
    expect(parseShaCryptSetting('$6$0123456789abcdefXYZ$')).toMatchObject({ salt: '0123456789abcdef' });
  });

  it('produces fresh hashes with random 16-character salts that verify', () => {
    const first = shaCryptHash('secret', 'sha512');
    const second = shaCryptHash('secret', 'sha512');
    expect(first).toMatch(/^\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$/);
    expect(first).not.toBe(second);
    expect(shaCrypt('secret', first)).toBe(first);
    const withRounds = shaCryptHash('secret', 'sha256', 2000);
    expect(withRounds).toMatch(/^\$5\$rounds=2000\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{43}$/);
    expect(shaCrypt('secret', withRounds)).toBe(withRounds);
  });
});
