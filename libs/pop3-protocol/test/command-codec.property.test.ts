/**
 * Hostile-input properties of the command path (server side: bytes -> LineDecoder -> parseCommand)
 * and of the reply encoders (which echo client text and so must never let it forge lines).
 * Complements the smaller properties in command.test.ts and line-decoder.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineDecoder, MAX_COMMAND_LINE, errLine, multiLine, MultilineDecoder, okLine, parseCommand, parseStatusLine } from '../src/index.ts';
import type { DecodedLine, ResponseCode } from '../src/index.ts';
import { argToken, chunk, cuts, recased, replyText, separatorRun, verbArb, wireBytes } from './arbitraries.ts';

const NUM_RUNS = 300;

function decodeChunks(chunks: Buffer[], max: number): DecodedLine[] {
  const dec = new LineDecoder({ maxLineLength: max });
  return chunks.flatMap((c) => dec.push(c));
}

/** Bytes a hostile client might send: framing bytes, NUL, controls, broken UTF-8, letters. */
const hostileBytes: fc.Arbitrary<Buffer> = fc.oneof(
  wireBytes,
  fc
    .array(fc.constantFrom('USER ', 'pass', ' ', '\t', '\r', '\n', '\r\n', '\0', '\x1b', '\xff', '\xc3', 'é', 'RETR 1', 'A'.repeat(17)), { maxLength: 40 })
    .map((parts) => Buffer.from(parts.join(''), 'latin1')),
);

describe('command path never throws (property)', () => {
  // A connection feeds every received line to parseCommand; an exception there would kill the
  // session instead of answering -ERR, so any byte sequence must give a typed result.
  it('any bytes, any chunking, any limit: only DecodedLines out, and every line parses to a typed result', () => {
    fc.assert(
      fc.property(hostileBytes, cuts, fc.integer({ min: 1, max: MAX_COMMAND_LINE }), (data, cutPoints, max) => {
        for (const item of decodeChunks(chunk(data, cutPoints, true), max)) {
          if (item.kind === 'too-long') {
            expect(item.length).toBeGreaterThan(max);
            continue;
          }
          expect(Buffer.byteLength(item.text)).toBeLessThanOrEqual(3 * max); // U+FFFD may replace single bad bytes
          const r = parseCommand(item.text);
          if (r.ok) expect(r.verb).toMatch(/^[A-Z]{1,16}$/);
          else expect(['empty', 'bad-verb', 'bad-chars']).toContain(r.error);
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('a NUL or C0 control anywhere in a line is reported as bad-chars, whatever else the line holds', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 30 }), fc.integer({ min: 0, max: 0x1f }).filter((c) => c !== 0x09), fc.nat(), (s, code, at) => {
        const i = at % (s.length + 1);
        const line = s.slice(0, i) + String.fromCharCode(code) + s.slice(i);
        expect(parseCommand(line)).toEqual({ ok: false, error: 'bad-chars' });
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

describe('command parsing (property)', () => {
  // RFC 1939: keywords are case-insensitive. The session dispatches on the uppercased verb.
  it('verbs are case-insensitive: any re-casing parses to the same command', () => {
    fc.assert(
      fc.property(
        verbArb.chain((v) => fc.tuple(fc.constant(v), recased(v))),
        fc.array(argToken, { maxLength: 4 }),
        separatorRun,
        ([verb, variant], args, sep) => {
          const tail = args.length ? sep + args.join(sep) : '';
          const a = parseCommand(verb + tail);
          const b = parseCommand(variant + tail);
          expect(b).toEqual(a);
          expect(b).toMatchObject({ ok: true, verb: verb.toUpperCase() });
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it('well-formed commands round-trip: the arguments come back exactly, rest is everything after one separator', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom(' ', '\t'), maxLength: 2 }),
        verbArb,
        fc.array(fc.tuple(separatorRun, argToken), { maxLength: 5 }),
        fc.string({ unit: fc.constantFrom(' ', '\t'), maxLength: 2 }),
        (lead, verb, parts, trail) => {
          const tail = parts.map(([sep, arg]) => sep + arg).join('') + trail;
          const r = parseCommand(lead + verb + tail);
          expect(r).toEqual({ ok: true, verb: verb.toUpperCase(), args: parts.map(([, arg]) => arg), rest: tail.slice(1) });
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it('a first word that is not 1-16 ASCII letters is a bad-verb, never a command', () => {
    const badVerb = fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }).filter((s) => !/[\x00-\x20]/.test(s) && !/^[A-Za-z]{1,16}$/.test(s));
    fc.assert(
      fc.property(badVerb, fc.array(argToken, { maxLength: 3 }), (verb, args) => {
        expect(parseCommand([verb, ...args].join(' '))).toEqual({ ok: false, error: 'bad-verb' });
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

describe('line limit (property)', () => {
  // A line longer than the limit must surface as `too-long` (the session answers -ERR / closes);
  // silently passing on its first bytes would execute a truncated command.
  it('a command line over the limit is reported too-long with its full length, under any chunking; the next line is intact', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: MAX_COMMAND_LINE + 8 }),
        fc.constantFrom(8, 64, MAX_COMMAND_LINE),
        fc.constantFrom('\r\n', '\n'),
        cuts,
        (len, max, eol, cutPoints) => {
          const line = 'PASS ' + 'x'.repeat(Math.max(0, len - 5));
          const text = line.slice(0, len);
          const data = Buffer.from(`${text}${eol}NOOP\r\n`, 'latin1');
          const got = decodeChunks(chunk(data, cutPoints, true), max);
          const first: DecodedLine = len > max ? { kind: 'too-long', length: len } : { kind: 'line', text };
          expect(got).toEqual([first, { kind: 'line', text: 'NOOP' }]);
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it('the limit counts bytes, not characters: multi-byte UTF-8 lines are judged by their encoded length', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => !s.includes('\n')), fc.integer({ min: 1, max: 60 }), cuts, (s, max, cutPoints) => {
        const bytes = Buffer.from(s, 'utf8');
        // A trailing CR would be eaten as half of the CRLF; keep the line free of one.
        fc.pre(bytes.at(-1) !== 0x0d);
        const got = decodeChunks(chunk(Buffer.concat([bytes, Buffer.from('\r\n')]), cutPoints, true), max);
        expect(got).toEqual([bytes.length > max ? { kind: 'too-long', length: bytes.length } : { kind: 'line', text: s }]);
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

describe('line decoder chunk independence (property)', () => {
  it('byte-at-a-time, CRLF split between chunks, and one-chunk feeding all give the same lines (incl. NUL, bare LF, UTF-8 split mid-character)', () => {
    const text = fc.string({ unit: fc.oneof(fc.constantFrom('\r\n', '\n', '\r', '\0', 'é', '€', '𝄞', ' '), fc.string({ unit: 'binary', maxLength: 1 })), maxLength: 60 });
    fc.assert(
      fc.property(text, fc.integer({ min: 1, max: 80 }), (s, max) => {
        const data = Buffer.from(s, 'utf8');
        const whole = decodeChunks([data], max);
        const perByte = decodeChunks([...data].map((b) => Buffer.from([b])), max);
        // Cut right after every CR, so every CRLF is split across two chunks.
        const crCuts = [...data.keys()].filter((i) => data[i] === 0x0d).map((i) => i + 1);
        const splitCrlf = decodeChunks(chunk(data, crCuts, true), max);
        expect(perByte).toEqual(whole);
        expect(splitCrlf).toEqual(whole);
        // And the lines themselves are what splitting the string gives (valid UTF-8 in, same text out).
        const expected = s.split('\n').slice(0, -1).map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
        expect(whole).toEqual(expected.map((l) => (Buffer.byteLength(l) > max ? { kind: 'too-long', length: Buffer.byteLength(l) } : { kind: 'line', text: l })));
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

const CODES: ResponseCode[] = ['AUTH', 'SYS/TEMP', 'SYS/PERM', 'IN-USE', 'LOGIN-DELAY', 'UTF8'];
const lineBreaksToSpaces = (s: string) => s.replace(/[\r\n]/g, ' ');

describe('reply encoder (property)', () => {
  // Replies echo client-supplied text; a CR or LF in it must not let the client forge a
  // second status line (response injection).
  it('okLine / errLine always produce exactly one CRLF-terminated line, which parses back to the text', () => {
    fc.assert(
      fc.property(replyText, fc.option(fc.constantFrom(...CODES), { nil: undefined }), (text, code) => {
        const flat = lineBreaksToSpaces(text);
        const ok = okLine(text);
        const err = errLine(text, code);
        for (const line of [ok, err]) {
          expect(line.endsWith('\r\n')).toBe(true);
          expect(line.slice(0, -2)).not.toMatch(/[\r\n]/);
        }
        // A text that itself starts with "[...]" would be read as a response code; skip that case.
        if (!flat.startsWith('[')) expect(parseStatusLine(ok.slice(0, -2))).toEqual({ ok: true, text: flat });
        const parsedErr = parseStatusLine(err.slice(0, -2));
        if (code) expect(parsedErr).toEqual({ ok: false, code, text: flat });
        else if (!flat.startsWith('[')) expect(parsedErr).toEqual({ ok: false, text: flat });
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('multiLine: the client decoder gets back exactly the given lines (line breaks flattened), dot-stuffing undone', () => {
    fc.assert(
      fc.property(replyText, fc.array(replyText, { maxLength: 8 }), cuts, (first, lines, cutPoints) => {
        const wire = Buffer.from(multiLine(first, lines), 'utf8');
        const statusEnd = wire.indexOf('\r\n') + 2;
        expect(parseStatusLine(wire.subarray(0, statusEnd - 2).toString('utf8'))).toMatchObject({ ok: true });
        const dec = new MultilineDecoder({ maxLineLength: 1_000_000 });
        const body: Buffer[] = [];
        let done = false;
        for (const c of chunk(wire.subarray(statusEnd), cutPoints, true)) {
          if (done) {
            expect(c.length).toBe(0); // the terminator is the very last line
            continue;
          }
          const r = dec.push(c);
          body.push(...r.data);
          if (r.done) {
            done = true;
            expect(r.rest.length).toBe(0);
          }
        }
        expect(done).toBe(true);
        expect(Buffer.concat(body).toString('utf8')).toBe(lines.map((l) => `${lineBreaksToSpaces(l)}\r\n`).join(''));
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('parseStatusLine never throws and only accepts +OK / -ERR / + prefixes', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), replyText), (s) => {
        const r = parseStatusLine(s);
        if (r === null) return;
        expect(s).toMatch(/^(\+ok|-err|\+)/i);
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
