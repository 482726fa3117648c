import { describe, expect, it } from 'vitest';
import {
  curFileName,
  deliveryTime,
  encodeHost,
  newFileName,
  newUniqueName,
  parseMaildirName,
  withSizes,
} from '../src/index.ts';

describe('encodeHost', () => {
  it('escapes / and : as the Maildir spec says, and , so the unique part holds the whole host', () => {
    expect(encodeHost('mail/box:1,a')).toBe('mail\\057box\\0721\\054a');
    expect(encodeHost('mx.example.org')).toBe('mx.example.org');
  });
});

describe('newUniqueName', () => {
  it('has the documented shape and never repeats', () => {
    const names = new Set<string>();
    for (let i = 0; i < 2000; i++) names.add(newUniqueName('host'));
    expect(names.size).toBe(2000);
    const [one] = names;
    expect(one).toMatch(new RegExp(`^\\d+\\.M\\d{1,6}P${process.pid}Q\\d+R[0-9a-f]{8}\\.host$`));
    const seconds = Number(one!.split('.')[0]);
    expect(Math.abs(seconds - Date.now() / 1000)).toBeLessThan(60);
  });

  it('the random part keeps changing across refills of its pool', () => {
    const randoms = Array.from({ length: 1000 }, () => /R([0-9a-f]{8})\./.exec(newUniqueName('host'))![1]);
    // 1 000 names use four refills of the 256-name pool; 32 random bits rarely repeat.
    expect(new Set(randoms).size).toBeGreaterThan(990);
  });

  it('contains neither , nor : nor / whatever the host', () => {
    const name = newUniqueName(encodeHost('a/b:c,d'));
    expect(name).not.toMatch(/[,:/]/);
  });
});

describe('newFileName / curFileName', () => {
  it('adds sizes and a sorted version-2 info part', () => {
    const base = newFileName('1700000000.M5P9.h', 120, 125);
    expect(base).toBe('1700000000.M5P9.h,S=120,W=125');
    expect(curFileName(base)).toBe('1700000000.M5P9.h,S=120,W=125:2,');
    expect(curFileName(base, 'SRF')).toBe('1700000000.M5P9.h,S=120,W=125:2,FRS');
  });
});

describe('parseMaildirName', () => {
  it('parses our own names in new/ and cur/', () => {
    expect(parseMaildirName('1700000000.M5P9Q1Rdeadbeef.h,S=120,W=125')).toEqual({
      unique: '1700000000.M5P9Q1Rdeadbeef.h',
      size: 120,
      wireSize: 125,
    });
    expect(parseMaildirName('1700000000.M5P9Q1Rdeadbeef.h,S=120,W=125:2,RS')).toEqual({
      unique: '1700000000.M5P9Q1Rdeadbeef.h',
      size: 120,
      wireSize: 125,
      flags: 'RS',
      info: '2,RS',
    });
  });

  it('parses foreign Dovecot names', () => {
    expect(parseMaildirName('1700000000.M1P2.host,S=1234,W=1260:2,S')).toEqual({
      unique: '1700000000.M1P2.host',
      size: 1234,
      wireSize: 1260,
      flags: 'S',
      info: '2,S',
    });
  });

  it('tolerates bare names, other fields, other info versions and garbage sizes', () => {
    expect(parseMaildirName('1700000000.12345_1.host')).toEqual({ unique: '1700000000.12345_1.host' });
    expect(parseMaildirName('x,Z=9,S=10')).toEqual({ unique: 'x', size: 10 });
    expect(parseMaildirName('x,S=abc,W=-1,W=7')).toEqual({ unique: 'x', wireSize: 7 });
    expect(parseMaildirName('x:1,experimental')).toEqual({ unique: 'x', info: '1,experimental' });
    expect(parseMaildirName('x:2,')).toEqual({ unique: 'x', flags: '', info: '2,' });
    expect(parseMaildirName('')).toEqual({ unique: '' });
    expect(parseMaildirName('a:b,S=5')).toEqual({ unique: 'a', info: 'b,S=5' });
  });
});

describe('withSizes', () => {
  it('adds S= and W=, keeps other fields and replaces stale sizes', () => {
    expect(withSizes('u', 5, 6)).toBe('u,S=5,W=6');
    expect(withSizes('u,Z=1,S=99', 5, 6)).toBe('u,Z=1,S=5,W=6');
  });
});

describe('deliveryTime', () => {
  it('reads seconds and the M microseconds field', () => {
    expect(deliveryTime('1700000000.M123456P99Q1Rab.host')).toEqual({ seconds: 1700000000, micros: 123456 });
    expect(deliveryTime('1700000000.M7P2V03I1_0.host')).toEqual({ seconds: 1700000000, micros: 7 });
    expect(deliveryTime('1700000000.12345_1.host')).toEqual({ seconds: 1700000000, micros: 0 });
    expect(deliveryTime('1700000000.P1.hostMaster')).toEqual({ seconds: 1700000000, micros: 0 });
    expect(deliveryTime('garbage').seconds).toBe(Number.POSITIVE_INFINITY);
  });
});
