/** Shared fast-check generators and naive reference implementations for the property tests. */
import fc from 'fast-check';

/**
 * Byte strings rich in the bytes that matter to POP3 framing ("." CR LF NUL), mixed with
 * fully random ones; uniformly random bytes alone would rarely produce ".\r\n" patterns.
 */
export const wireBytes: fc.Arbitrary<Buffer> = fc
  .oneof(
    fc.uint8Array({ maxLength: 400 }),
    fc.array(fc.constantFrom(0x2e, 0x0d, 0x0a, 0x0a, 0x41, 0x20, 0x00, 0xc3, 0xa9), { maxLength: 200 }),
    fc.array(fc.constantFrom('.', '\r\n', '\n', '\r', '..', 'a', 'Subject: x', '.\r\n', '\n\n'), { maxLength: 60 }).map((parts) =>
      Buffer.from(parts.join(''), 'latin1'),
    ),
  )
  .map((a) => Buffer.from(a));

/** Cut points for splitting a buffer into chunks (interpreted modulo the buffer length). */
export const cuts: fc.Arbitrary<number[]> = fc.array(fc.nat(), { maxLength: 30 });

/** Split data at the given cut points (sorted, deduplicated); the chunks concatenate back to data. */
export function chunk(data: Buffer, cutPoints: number[], keepEmpty = false): Buffer[] {
  const points = [...new Set(cutPoints.map((c) => (data.length === 0 ? 0 : c % (data.length + 1))))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    if (p > prev || keepEmpty) out.push(data.subarray(prev, p));
    prev = Math.max(prev, p);
  }
  out.push(data.subarray(prev));
  return out;
}

/** Bare LF -> CRLF, per byte (the obviously-correct version of what the encoder does fast). */
export function toCrlf(data: Buffer): Buffer {
  const out: number[] = [];
  for (let i = 0; i < data.length; i++) {
    if (data[i] === 0x0a && (i === 0 || data[i - 1] !== 0x0d)) out.push(0x0d);
    out.push(data[i] as number);
  }
  return Buffer.from(out);
}

/** What a client should get back from RETR: CRLF line endings, and a final CRLF if missing. */
export function expectedMessage(data: Buffer): Buffer {
  const t = toCrlf(data);
  if (t.length === 0 || (t[t.length - 2] === 0x0d && t[t.length - 1] === 0x0a)) return t;
  return Buffer.concat([t, Buffer.from('\r\n')]);
}

/** Split CRLF text into lines, each keeping its CRLF. */
export function crlfLines(t: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < t.length; i++) {
    if (t[i] === 0x0a) {
      lines.push(t.subarray(start, i + 1));
      start = i + 1;
    }
  }
  if (start < t.length) lines.push(t.subarray(start));
  return lines;
}

/** Per-line dot-stuffing plus terminator, byte by byte. */
export function naiveWire(lines: Buffer[], extraEoh = false): Buffer {
  const parts: Buffer[] = [];
  for (const l of lines) {
    if (l[0] === 0x2e) parts.push(Buffer.from('.'));
    parts.push(l);
  }
  if (extraEoh) parts.push(Buffer.from('\r\n'));
  parts.push(Buffer.from('.\r\n'));
  return Buffer.concat(parts);
}

export function isEmptyLine(l: Buffer): boolean {
  return l.equals(Buffer.from('\r\n'));
}
