import { describe, expect, it } from 'vitest';
import { MessageEncoder, encodeMessage } from '../src/index.ts';
import type { MessageEncoderOptions } from '../src/index.ts';

const enc = (s: string, opts?: MessageEncoderOptions): string => encodeMessage(Buffer.from(s, 'latin1'), opts).toString('latin1');

/** Feed one byte at a time: the worst case for state carried across chunks. */
function encodeBytewise(s: string, opts?: MessageEncoderOptions): string {
  const e = new MessageEncoder(opts);
  let out = '';
  for (const b of Buffer.from(s, 'latin1')) out += e.write(Buffer.from([b])).toString('latin1');
  return out + e.end().toString('latin1');
}

describe('encodeMessage (RETR)', () => {
  it('converts bare LF to CRLF and appends the terminator', () => {
    expect(enc('Subject: a\n\nbody\n')).toBe('Subject: a\r\n\r\nbody\r\n.\r\n');
  });

  it('leaves CRLF alone and handles mixed endings', () => {
    expect(enc('a\r\nb\nc\r\n')).toBe('a\r\nb\r\nc\r\n.\r\n');
  });

  it('keeps a bare CR inside a line as content', () => {
    expect(enc('a\rb\n')).toBe('a\rb\r\n.\r\n');
  });

  it('dot-stuffs lines starting with a dot, and only those', () => {
    expect(enc('.\n..x\na.b\n.')).toBe('..\r\n...x\r\na.b\r\n..\r\n.\r\n');
  });

  it('adds a final CRLF when the message does not end with a line break', () => {
    expect(enc('a\nlast')).toBe('a\r\nlast\r\n.\r\n');
    // A trailing lone CR is content, not half a line break.
    expect(enc('a\r')).toBe('a\r\r\n.\r\n');
  });

  it('encodes an empty message as the terminator alone', () => {
    expect(enc('')).toBe('.\r\n');
  });

  it('passes NUL and 8-bit bytes through unchanged by default', () => {
    expect(encodeMessage(Buffer.from([0x41, 0x00, 0xff, 0x0a]))).toEqual(Buffer.from([0x41, 0x00, 0xff, 0x0d, 0x0a, 0x2e, 0x0d, 0x0a]));
  });
});

describe('MessageEncoder (streaming)', () => {
  it('does not turn a CR at the end of one chunk plus LF at the start of the next into CRCRLF', () => {
    const e = new MessageEncoder();
    const a = e.write(Buffer.from('abc\r'));
    const b = e.write(Buffer.from('\ndef\n'));
    expect(Buffer.concat([a, b, e.end()]).toString()).toBe('abc\r\ndef\r\n.\r\n');
  });

  it('dot-stuffs a dot that starts a chunk at a line start, but not one mid-line', () => {
    const e = new MessageEncoder();
    const parts = [e.write(Buffer.from('x\n')), e.write(Buffer.from('.y\nab')), e.write(Buffer.from('.c\n')), e.end()];
    expect(Buffer.concat(parts).toString()).toBe('x\r\n..y\r\nab.c\r\n.\r\n');
  });

  it('gives the same bytes fed one byte at a time', () => {
    const msg = 'From: a\r\nSubject: b\n\n.hidden\r\n..two\n\r\nend';
    expect(encodeBytewise(msg)).toBe(enc(msg));
  });

  it('returns an empty buffer for an empty chunk', () => {
    expect(new MessageEncoder().write(Buffer.alloc(0)).length).toBe(0);
  });

  it('rejects use after end()', () => {
    const e = new MessageEncoder();
    e.end();
    expect(() => e.write(Buffer.from('x'))).toThrow();
    expect(() => e.end()).toThrow();
  });

  it('writeInto refuses an output buffer shorter than twice the chunk', () => {
    const e = new MessageEncoder();
    expect(() => e.writeInto(Buffer.from('abc\n'), Buffer.alloc(7))).toThrow(RangeError);
    const out = Buffer.alloc(8);
    expect(out.subarray(0, e.writeInto(Buffer.from('abc\n'), out)).toString()).toBe('abc\r\n');
  });

  it('returns buffers that later writes do not overwrite', () => {
    const e = new MessageEncoder();
    const first = e.write(Buffer.from('one\n'));
    e.write(Buffer.from('two\n'));
    expect(first.toString()).toBe('one\r\n');
  });
});

describe('TOP (bodyLines)', () => {
  const msg = 'From: a\nSubject: b\n\nline1\nline2\n.line3\n';

  it('TOP 0 sends the header and the empty line only', () => {
    expect(enc(msg, { bodyLines: 0 })).toBe('From: a\r\nSubject: b\r\n\r\n.\r\n');
  });

  it('TOP 1 sends one body line', () => {
    expect(enc(msg, { bodyLines: 1 })).toBe('From: a\r\nSubject: b\r\n\r\nline1\r\n.\r\n');
  });

  it('TOP n with n beyond the body sends the whole message, dot-stuffed', () => {
    expect(enc(msg, { bodyLines: 100 })).toBe(enc(msg));
    expect(enc(msg, { bodyLines: 3 })).toBe('From: a\r\nSubject: b\r\n\r\nline1\r\nline2\r\n..line3\r\n.\r\n');
  });

  it('a message that is all header is sent whole', () => {
    expect(enc('From: a\nSubject: b\n', { bodyLines: 0 })).toBe('From: a\r\nSubject: b\r\n.\r\n');
    expect(enc('From: a\nSubject: b', { bodyLines: 2 })).toBe('From: a\r\nSubject: b\r\n.\r\n');
  });

  it('recognises a CRLF empty line and one split across chunks', () => {
    expect(enc('A: b\r\n\r\nx\r\ny\r\n', { bodyLines: 1 })).toBe('A: b\r\n\r\nx\r\n.\r\n');
    expect(encodeBytewise('A: b\r\n\r\nx\r\ny\r\n', { bodyLines: 1 })).toBe('A: b\r\n\r\nx\r\n.\r\n');
  });

  it('a body line split across chunks counts once', () => {
    const e = new MessageEncoder({ bodyLines: 2 });
    const parts = [e.write(Buffer.from('H: 1\n\nfir')), e.write(Buffer.from('st\nsecond\nthird\n')), e.end()];
    expect(Buffer.concat(parts).toString()).toBe('H: 1\r\n\r\nfirst\r\nsecond\r\n.\r\n');
  });

  it('sets done once enough lines were sent, and ignores further input', () => {
    const e = new MessageEncoder({ bodyLines: 1 });
    expect(e.write(Buffer.from('H: 1\n')).toString()).toBe('H: 1\r\n');
    expect(e.done).toBe(false);
    expect(e.write(Buffer.from('\nbody1\nbo')).toString()).toBe('\r\nbody1\r\n');
    expect(e.done).toBe(true);
    expect(e.write(Buffer.from('dy2\n')).length).toBe(0);
    expect(e.end().toString()).toBe('.\r\n');
  });

  it('done is set by TOP 0 right at the empty line', () => {
    const e = new MessageEncoder({ bodyLines: 0 });
    e.write(Buffer.from('H: 1\n\n'));
    expect(e.done).toBe(true);
  });

  it('RETR never sets done', () => {
    const e = new MessageEncoder();
    e.write(Buffer.from('H: 1\n\na\nb\n'));
    expect(e.done).toBe(false);
  });

  it('rejects a negative or fractional bodyLines', () => {
    expect(() => new MessageEncoder({ bodyLines: -1 })).toThrow(RangeError);
    expect(() => new MessageEncoder({ bodyLines: 1.5 })).toThrow(RangeError);
  });
});

describe('Outlook workarounds', () => {
  it('outlookNoNuls replaces NUL bytes with 0x80', () => {
    const out = encodeMessage(Buffer.from([0x00, 0x41, 0x00, 0x00, 0x0a]), { outlookNoNuls: true });
    expect(out).toEqual(Buffer.from([0x80, 0x41, 0x80, 0x80, 0x0d, 0x0a, 0x2e, 0x0d, 0x0a]));
  });

  it('outlookNoNuls works across chunks and leaves other bytes alone', () => {
    const e = new MessageEncoder({ outlookNoNuls: true });
    const out = Buffer.concat([e.write(Buffer.from([0x41, 0x00])), e.write(Buffer.from([0x00, 0xff, 0x0a])), e.end()]);
    expect(out).toEqual(Buffer.from([0x41, 0x80, 0x80, 0xff, 0x0d, 0x0a, 0x2e, 0x0d, 0x0a]));
  });

  it('addMissingEoh adds the empty line when the header is not terminated', () => {
    expect(enc('From: a\nSubject: b\n', { addMissingEoh: true })).toBe('From: a\r\nSubject: b\r\n\r\n.\r\n');
    expect(enc('From: a', { addMissingEoh: true })).toBe('From: a\r\n\r\n.\r\n');
    expect(enc('', { addMissingEoh: true })).toBe('\r\n.\r\n');
  });

  it('addMissingEoh changes nothing when the header ends properly', () => {
    const msg = 'From: a\n\nbody';
    expect(enc(msg, { addMissingEoh: true })).toBe(enc(msg));
  });

  it('addMissingEoh combines with TOP on a header-only message', () => {
    expect(enc('From: a\n', { addMissingEoh: true, bodyLines: 0 })).toBe('From: a\r\n\r\n.\r\n');
  });
});
