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

// ---- command / reply / SASL generators ------------------------------------------------------

/** A POP3 verb as the parser accepts it: 1-16 ASCII letters, any case. */
export const verbArb: fc.Arbitrary<string> = fc.stringMatching(/^[A-Za-z]{1,16}$/);

/** The same letters with each one's case flipped at random (clients send "retr", "Retr", ...). */
export const recased = (s: string): fc.Arbitrary<string> =>
  fc.array(fc.boolean(), { minLength: s.length, maxLength: s.length }).map((flips) =>
    [...s].map((c, i) => (flips[i] ? c.toLowerCase() : c.toUpperCase())).join(''),
  );

/** One command argument: no space, tab or C0 control; any other Unicode (passwords, UTF8 names). */
export const argToken: fc.Arbitrary<string> = fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }).filter((s) => !/[\x00-\x20]/.test(s));

/** A run of argument separators. */
export const separatorRun: fc.Arbitrary<string> = fc.string({ unit: fc.constantFrom(' ', '\t'), minLength: 1, maxLength: 3 });

/** Text that a reply may echo: anything, with CR/LF over-represented (reply-injection attempts). */
export const replyText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: fc.constantFrom('a', ' ', '\r', '\n', '\r\n', '.', '+OK', '-ERR', '[', ']', 'é'), maxLength: 20 }),
);

/** A UTF-8 string without NUL (SASL PLAIN field contents); no lone surrogates, so UTF-8 round-trips. */
export const saslField = (minLength = 0): fc.Arbitrary<string> =>
  fc.string({ unit: 'binary', minLength, maxLength: 24 }).filter((s) => !s.includes('\0'));

/**
 * Reference client-side decoder, line by line: a line that is exactly ".\r\n" or ".\n" ends the
 * body, any other line starting with "." loses that dot. `longest` is the longest content line
 * seen before the end (stuffing dot, CRLF / LF and a trailing CR of an unfinished line excluded).
 * Without a terminator, body is what a streaming decoder can already hand out.
 */
export function naiveUnstuff(wire: Buffer): { body: Buffer; rest: Buffer; done: boolean; longest: number } {
  const body: Buffer[] = [];
  let longest = 0;
  let start = 0;
  while (start < wire.length) {
    const lf = wire.indexOf(0x0a, start);
    const end = lf === -1 ? wire.length : lf + 1;
    const line = wire.subarray(start, end);
    if (line.equals(Buffer.from('.\r\n')) || line.equals(Buffer.from('.\n'))) {
      return { body: Buffer.concat(body), rest: wire.subarray(end), done: true, longest };
    }
    // An unfinished "." or ".\r" may still become the terminator: nothing of it is body yet.
    if (lf === -1 && (line.equals(Buffer.from('.')) || line.equals(Buffer.from('.\r')))) break;
    const content = line[0] === 0x2e ? line.subarray(1) : line;
    body.push(content);
    let len = content.length;
    if (lf !== -1) len -= 1;
    if (content[len - 1] === 0x0d) len -= 1;
    longest = Math.max(longest, len);
    start = end;
  }
  return { body: Buffer.concat(body), rest: Buffer.alloc(0), done: false, longest };
}
