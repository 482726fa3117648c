import { describe, expect, it } from 'vitest';
import { continuation, errLine, multiLine, okLine, parseStatusLine } from '../src/index.ts';

describe('status lines (server side)', () => {
  it('okLine with and without text', () => {
    expect(okLine()).toBe('+OK\r\n');
    expect(okLine('')).toBe('+OK\r\n');
    expect(okLine('2 320')).toBe('+OK 2 320\r\n');
  });

  it('errLine with and without a response code', () => {
    expect(errLine('no such message')).toBe('-ERR no such message\r\n');
    expect(errLine('mailbox locked', 'IN-USE')).toBe('-ERR [IN-USE] mailbox locked\r\n');
    expect(errLine('try later', 'SYS/TEMP')).toBe('-ERR [SYS/TEMP] try later\r\n');
  });

  it('never lets reply text break the line (CR/LF injection)', () => {
    expect(okLine('hi\r\n+OK forged')).toBe('+OK hi  +OK forged\r\n');
    expect(errLine('bad user a\nb', 'AUTH')).toBe('-ERR [AUTH] bad user a b\r\n');
    expect(continuation('abc\r\n')).toBe('+ abc  \r\n');
  });

  it('multiLine dot-stuffs each line and ends with the terminator', () => {
    expect(multiLine('2 messages', ['1 120', '.hidden', '2 200'])).toBe('+OK 2 messages\r\n1 120\r\n..hidden\r\n2 200\r\n.\r\n');
    expect(multiLine('', [])).toBe('+OK\r\n.\r\n');
  });

  it('multiLine accepts any iterable and cannot be terminated early by a line', () => {
    function* gen(): Generator<string> {
      yield 'a';
      yield '.';
      yield 'b\r\n.';
    }
    expect(multiLine('x', gen())).toBe('+OK x\r\na\r\n..\r\nb  .\r\n.\r\n');
  });

  it('continuation sends "+ " and the base64 text', () => {
    expect(continuation('PDEyMz4=')).toBe('+ PDEyMz4=\r\n');
    expect(continuation('')).toBe('+ \r\n');
  });
});

describe('parseStatusLine (client side)', () => {
  it('parses positive and negative replies', () => {
    expect(parseStatusLine('+OK 2 320')).toEqual({ ok: true, text: '2 320' });
    expect(parseStatusLine('+OK')).toEqual({ ok: true, text: '' });
    expect(parseStatusLine('-ERR no such message')).toEqual({ ok: false, text: 'no such message' });
    expect(parseStatusLine('-ERR')).toEqual({ ok: false, text: '' });
  });

  it('extracts RFC 2449 response codes, including hierarchical ones', () => {
    expect(parseStatusLine('-ERR [IN-USE] locked')).toEqual({ ok: false, code: 'IN-USE', text: 'locked' });
    expect(parseStatusLine('-ERR [SYS/TEMP] later')).toEqual({ ok: false, code: 'SYS/TEMP', text: 'later' });
    expect(parseStatusLine('-ERR [auth]')).toEqual({ ok: false, code: 'AUTH', text: '' });
    expect(parseStatusLine('+OK [LOGIN-DELAY] fine')).toEqual({ ok: true, code: 'LOGIN-DELAY', text: 'fine' });
  });

  it('leaves text alone when the bracket is not a well-formed code', () => {
    expect(parseStatusLine('-ERR [] x')).toEqual({ ok: false, text: '[] x' });
    expect(parseStatusLine('-ERR [A//B] x')).toEqual({ ok: false, text: '[A//B] x' });
    expect(parseStatusLine('-ERR [open')).toEqual({ ok: false, text: '[open' });
  });

  it('recognises SASL continuations', () => {
    expect(parseStatusLine('+ PDEyMz4=')).toEqual({ continuation: true, text: 'PDEyMz4=' });
    expect(parseStatusLine('+ ')).toEqual({ continuation: true, text: '' });
    expect(parseStatusLine('+')).toEqual({ continuation: true, text: '' });
  });

  it('tolerates a trailing CRLF and lowercase indicators', () => {
    expect(parseStatusLine('+OK hi\r\n')).toEqual({ ok: true, text: 'hi' });
    expect(parseStatusLine('+ok hi')).toEqual({ ok: true, text: 'hi' });
    expect(parseStatusLine('-err x')).toEqual({ ok: false, text: 'x' });
  });

  it('returns null for anything else', () => {
    for (const bad of ['', 'OK', '* OK IMAP', '220 smtp ready', '+OKAY', '-ERROR x', '-', '+X', ' +OK']) {
      expect(parseStatusLine(bad)).toBeNull();
    }
  });
});
