import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseCommand, parseMessageNumber } from '../src/index.ts';

describe('parseCommand', () => {
  it('uppercases the verb and splits the arguments', () => {
    expect(parseCommand('retr 1')).toEqual({ ok: true, verb: 'RETR', args: ['1'], rest: '1' });
    expect(parseCommand('TOP 3 10')).toEqual({ ok: true, verb: 'TOP', args: ['3', '10'], rest: '3 10' });
    expect(parseCommand('QUIT')).toEqual({ ok: true, verb: 'QUIT', args: [], rest: '' });
  });

  it('splits arguments on runs of spaces and tabs, ignoring trailing ones', () => {
    expect(parseCommand('TOP  1 \t 2 ')).toEqual({ ok: true, verb: 'TOP', args: ['1', '2'], rest: ' 1 \t 2 ' });
  });

  it('keeps rest unmodified after exactly one separator (passwords with spaces)', () => {
    const r = parseCommand('PASS  my secret  pass ');
    expect(r).toEqual({ ok: true, verb: 'PASS', args: ['my', 'secret', 'pass'], rest: ' my secret  pass ' });
    expect(parseCommand('AUTH PLAIN AGJvYgBzZWNyZXQ=')).toMatchObject({ ok: true, args: ['PLAIN', 'AGJvYgBzZWNyZXQ='] });
  });

  it('accepts a tab as the separator', () => {
    expect(parseCommand('USER\tbob')).toEqual({ ok: true, verb: 'USER', args: ['bob'], rest: 'bob' });
  });

  it('reports empty lines', () => {
    expect(parseCommand('')).toEqual({ ok: false, error: 'empty' });
    expect(parseCommand('  \t ')).toEqual({ ok: false, error: 'empty' });
  });

  it('rejects verbs that are not 1-16 ASCII letters', () => {
    for (const bad of ['US3R', 'A'.repeat(17), 'ÜSER x', 'RETR1', '+OK', 'X-Y']) {
      expect(parseCommand(bad)).toEqual({ ok: false, error: 'bad-verb' });
    }
    expect(parseCommand('A'.repeat(16)).ok).toBe(true);
  });

  it('rejects NUL and C0 controls other than TAB', () => {
    for (const bad of ['USER b\0b', 'PASS a\rb', 'USER \x1b[31m', 'US\nER', 'NOOP\x01']) {
      expect(parseCommand(bad)).toEqual({ ok: false, error: 'bad-chars' });
    }
    expect(parseCommand('PASS a\tb').ok).toBe(true);
  });

  it('never throws, and any accepted result is well-formed (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: fc.constantFrom('a', 'Z', ' ', '\t', '\0', '1', 'é') })), (s) => {
        const r = parseCommand(s);
        if (r.ok) {
          expect(r.verb).toMatch(/^[A-Z]{1,16}$/);
          expect(r.args.every((a) => a !== '' && !/[ \t]/.test(a))).toBe(true);
          expect(s.endsWith(r.rest)).toBe(true);
        } else {
          expect(['empty', 'bad-verb', 'bad-chars']).toContain(r.error);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('round-trips verb + space + rest for any control-free rest (property)', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z]{1,16}$/), fc.string().filter((s) => !/[\x00-\x08\x0a-\x1f]/.test(s)), (verb, rest) => {
        const r = parseCommand(`${verb} ${rest}`);
        expect(r).toMatchObject({ ok: true, verb: verb.toUpperCase(), rest });
      }),
    );
  });
});

describe('parseMessageNumber', () => {
  it('accepts 1..2^31-1 in decimal, tolerating leading zeros', () => {
    expect(parseMessageNumber('1')).toBe(1);
    expect(parseMessageNumber('007')).toBe(7);
    expect(parseMessageNumber('2147483647')).toBe(2147483647);
    expect(parseMessageNumber('0000000000000000002147483647')).toBe(2147483647);
  });

  it('rejects zero, overflow, signs and non-digits', () => {
    for (const bad of [undefined, '', '0', '000', '2147483648', '99999999999999999999', '+1', '-1', ' 1', '1 ', '1.0', '1e3', '0x10', '١']) {
      expect(parseMessageNumber(bad)).toBeNull();
    }
  });

  it('agrees with BigInt for any digit string (property)', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9]{1,25}$/), (s) => {
        const v = BigInt(s);
        expect(parseMessageNumber(s)).toBe(v >= 1n && v <= 2147483647n ? Number(v) : null);
      }),
    );
  });
});
