import { describe, expect, it } from 'vitest';
import { MultilineDecoder, ProtocolError } from '../src/index.ts';

function decodeAll(chunks: string[], maxLineLength = 1000): { body: string; done: boolean; rest: string } {
  const dec = new MultilineDecoder({ maxLineLength });
  let body = '';
  for (let i = 0; i < chunks.length; i++) {
    const r = dec.push(Buffer.from(chunks[i] as string, 'latin1'));
    body += Buffer.concat(r.data).toString('latin1');
    // After the terminator, the caller hands rest plus later chunks to the next reply's parser.
    if (r.done) return { body, done: true, rest: r.rest.toString('latin1') + chunks.slice(i + 1).join('') };
  }
  return { body, done: false, rest: '' };
}

describe('MultilineDecoder', () => {
  it('removes dot-stuffing and stops at the terminator', () => {
    expect(decodeAll(['a\r\n..b\r\n...\r\nc.d\r\n.\r\n'])).toEqual({ body: 'a\r\n.b\r\n..\r\nc.d\r\n', done: true, rest: '' });
  });

  it('returns bytes after the terminator as rest (pipelined replies)', () => {
    expect(decodeAll(['x\r\n.\r\n+OK next\r\n'])).toEqual({ body: 'x\r\n', done: true, rest: '+OK next\r\n' });
  });

  it('handles an empty body', () => {
    expect(decodeAll(['.\r\n'])).toEqual({ body: '', done: true, rest: '' });
  });

  it('accepts a bare-LF terminator from sloppy servers', () => {
    expect(decodeAll(['a\n.\nrest'])).toEqual({ body: 'a\n', done: true, rest: 'rest' });
  });

  it('finds the terminator split across chunks at every position', () => {
    const wire = 'ab\r\n..c\r\n.\r\nNEXT';
    for (let i = 0; i <= wire.length; i++) {
      for (let j = i; j <= wire.length; j++) {
        const r = decodeAll([wire.slice(0, i), wire.slice(i, j), wire.slice(j)]);
        expect(r.done).toBe(true);
        expect(r.body).toBe('ab\r\n.c\r\n');
        expect(r.rest).toBe('NEXT');
      }
    }
  });

  it('does not mistake ".\\r" followed by other bytes for the terminator', () => {
    expect(decodeAll(['.', '\r', 'x\r\n.\r\n'])).toEqual({ body: '\rx\r\n', done: true, rest: '' });
    expect(decodeAll(['.\r', '\r\n.\r\n'])).toEqual({ body: '\r\r\n', done: true, rest: '' });
  });

  it('returns slices of the input rather than copies', () => {
    const chunk = Buffer.from('line one\r\nline two\r\n');
    const r = new MultilineDecoder({ maxLineLength: 100 }).push(chunk);
    expect(r.data).toHaveLength(1);
    expect(r.data[0]?.buffer).toBe(chunk.buffer);
  });

  it('reports not done while the terminator has not arrived', () => {
    const dec = new MultilineDecoder({ maxLineLength: 100 });
    const r = dec.push(Buffer.from('a\r\n.'));
    expect(r.done).toBe(false);
    expect(dec.done).toBe(false);
    expect(Buffer.concat(r.data).toString()).toBe('a\r\n');
    expect(dec.push(Buffer.from('\r\n')).done).toBe(true);
    expect(dec.done).toBe(true);
    expect(() => dec.push(Buffer.from('x'))).toThrow();
  });

  it('accepts a line of exactly maxLineLength (CRLF and stuffing dot not counted)', () => {
    expect(decodeAll(['abcd\r\n..bcd\r\n.\r\n'], 4).body).toBe('abcd\r\n.bcd\r\n');
    expect(decodeAll(['abcd\r', '\n.\r\n'], 4).body).toBe('abcd\r\n');
  });

  it('throws ProtocolError line-too-long for a longer line', () => {
    const err = (() => {
      try {
        decodeAll(['abcde\r\n.\r\n'], 4);
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as ProtocolError).code).toBe('line-too-long');
  });

  it('throws as soon as an unterminated line passes the limit, without waiting for its end', () => {
    const dec = new MultilineDecoder({ maxLineLength: 10 });
    dec.push(Buffer.from('0123456789'));
    expect(() => dec.push(Buffer.from('ab'))).toThrow(ProtocolError);
  });

  it('rejects an invalid maxLineLength', () => {
    expect(() => new MultilineDecoder({ maxLineLength: 0 })).toThrow(RangeError);
  });
});
