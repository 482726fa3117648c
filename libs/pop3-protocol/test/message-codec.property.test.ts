/**
 * Property (a): the streaming encoder equals the one-shot encoder under any chunking, equals a
 * byte-by-byte reference, and the client decoder (under any chunking) undoes it exactly.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MessageEncoder, MultilineDecoder, ProtocolError, encodeMessage } from '../src/index.ts';
import type { MessageEncoderOptions } from '../src/index.ts';
import { chunk, crlfLines, cuts, expectedMessage, isEmptyLine, naiveUnstuff, naiveWire, wireBytes } from './arbitraries.ts';

function encodeChunked(data: Buffer, cutPoints: number[], opts?: MessageEncoderOptions): Buffer {
  const enc = new MessageEncoder(opts);
  const parts = chunk(data, cutPoints, true).map((c) => enc.write(c));
  parts.push(enc.end());
  return Buffer.concat(parts);
}

function decodeChunked(wire: Buffer, cutPoints: number[], maxLineLength = 1_000_000): { body: Buffer; rest: Buffer; done: boolean } {
  const dec = new MultilineDecoder({ maxLineLength });
  const body: Buffer[] = [];
  const rest: Buffer[] = [];
  let done = false;
  for (const c of chunk(wire, cutPoints, true)) {
    if (done) {
      rest.push(c);
      continue;
    }
    const r = dec.push(c);
    body.push(...r.data);
    if (r.done) {
      done = true;
      rest.push(r.rest);
    } else {
      expect(r.rest.length).toBe(0);
    }
  }
  return { body: Buffer.concat(body), rest: Buffer.concat(rest), done };
}

const NUM_RUNS = 400;

describe('message encoding round trip (property)', () => {
  it('MessageEncoder under any chunking equals encodeMessage and the byte-by-byte reference', () => {
    fc.assert(
      fc.property(wireBytes, cuts, (data, cutPoints) => {
        const oneShot = encodeMessage(data);
        expect(encodeChunked(data, cutPoints)).toEqual(oneShot);
        expect(oneShot).toEqual(naiveWire(crlfLines(expectedMessage(data))));
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('writeInto with one reused output buffer, and encodeMessage with a status prefix, give the same bytes', () => {
    fc.assert(
      fc.property(wireBytes, cuts, fc.constantFrom<MessageEncoderOptions>({}, { bodyLines: 1 }, { outlookNoNuls: true, addMissingEoh: true }), (data, cutPoints, opts) => {
        const enc = new MessageEncoder(opts);
        const out = Buffer.alloc(2 * Math.max(1, data.length));
        const parts: Buffer[] = chunk(data, cutPoints, true).map((c) => Buffer.from(out.subarray(0, enc.writeInto(c, out))));
        parts.push(enc.end());
        expect(Buffer.concat(parts)).toEqual(encodeChunked(data, cutPoints, opts));
        expect(encodeMessage(data, opts, '+OK 7 octets\r\n')).toEqual(Buffer.concat([Buffer.from('+OK 7 octets\r\n'), encodeMessage(data, opts)]));
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('MultilineDecoder under any chunking gives back the CRLF-normalised message, and the bytes after the terminator', () => {
    fc.assert(
      fc.property(wireBytes, cuts, cuts, fc.uint8Array({ maxLength: 20 }), (data, encCuts, decCuts, trailer) => {
        const wire = encodeChunked(data, encCuts);
        const next = Buffer.from(trailer);
        const { body, rest, done } = decodeChunked(Buffer.concat([wire, next]), decCuts);
        expect(done).toBe(true);
        expect(body).toEqual(expectedMessage(data));
        expect(rest).toEqual(next);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('TOP under any chunking equals the reference: header, empty line, n body lines', () => {
    fc.assert(
      fc.property(wireBytes, cuts, fc.nat({ max: 8 }), (data, cutPoints, n) => {
        const lines = crlfLines(expectedMessage(data));
        const eoh = lines.findIndex(isEmptyLine);
        const kept = eoh === -1 ? lines : lines.slice(0, eoh + 1 + n);
        const expected = naiveWire(kept);
        expect(encodeMessage(data, { bodyLines: n })).toEqual(expected);
        expect(encodeChunked(data, cutPoints, { bodyLines: n })).toEqual(expected);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('outlookNoNuls only replaces NUL with 0x80; addMissingEoh only adds an empty line when none ends the header', () => {
    fc.assert(
      fc.property(wireBytes, cuts, (data, cutPoints) => {
        const plain = encodeMessage(data);
        const noNuls = encodeChunked(data, cutPoints, { outlookNoNuls: true });
        expect(noNuls).toEqual(Buffer.from(plain.map((b) => (b === 0 ? 0x80 : b))));

        const lines = crlfLines(expectedMessage(data));
        const withEoh = encodeChunked(data, cutPoints, { addMissingEoh: true });
        expect(withEoh).toEqual(naiveWire(lines, !lines.some(isEmptyLine)));
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

/**
 * Property (b): hostile wire input. The client decoder must follow the byte-by-byte reference on
 * ANY bytes (not just what our encoder emits), whatever the chunking, and stop exactly at the
 * terminator: the bytes after it belong to the next pipelined reply.
 */
function decodeOrError(wire: Buffer, cutPoints: number[], max: number): { body: Buffer; rest: Buffer; done: boolean } | ProtocolError {
  try {
    return decodeChunked(wire, cutPoints, max);
  } catch (error) {
    if (error instanceof ProtocolError) return error;
    throw error;
  }
}

/** Server bytes with the terminator and stuffing patterns over-represented. */
const hostileWire: fc.Arbitrary<Buffer> = fc.oneof(
  wireBytes,
  fc
    .array(fc.constantFrom('.', '..', '.\r', '.\r\n', '.\n', '\r', '\n', '\r\n', 'x', '\0', '\r\r\n', '.\rx'), { maxLength: 40 })
    .map((parts) => Buffer.from(parts.join(''), 'latin1')),
);

describe('message decoding of hostile input (property)', () => {
  it('MultilineDecoder equals the line-by-line reference on any bytes, under any chunking: body, terminator, leftover', () => {
    fc.assert(
      fc.property(hostileWire, cuts, (wire, cutPoints) => {
        const ref = naiveUnstuff(wire);
        const got = decodeChunked(wire, cutPoints);
        expect(got.done).toBe(ref.done);
        expect(got.body).toEqual(ref.body);
        expect(got.rest).toEqual(ref.rest);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  // A server that never ends a line would otherwise make the client buffer forever; the limit
  // must be enforced exactly (no silent truncation, no false alarm on a CR at a chunk end).
  it('throws ProtocolError(line-too-long) exactly when a line before the terminator exceeds the limit, under any chunking', () => {
    fc.assert(
      fc.property(hostileWire, cuts, fc.integer({ min: 1, max: 24 }), (wire, cutPoints, max) => {
        const ref = naiveUnstuff(wire);
        const got = decodeOrError(wire, cutPoints, max);
        if (ref.longest > max) {
          expect(got).toBeInstanceOf(ProtocolError);
          expect((got as ProtocolError).code).toBe('line-too-long');
        } else {
          expect(got).not.toBeInstanceOf(ProtocolError);
          expect(got).toEqual({ body: ref.body, rest: ref.rest, done: ref.done });
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('the encoder never emits a line starting with a lone "." except the final terminator, and ends every line with CRLF', () => {
    fc.assert(
      fc.property(wireBytes, cuts, fc.option(fc.nat({ max: 5 }), { nil: undefined }), (data, cutPoints, bodyLines) => {
        const wire = encodeChunked(data, cutPoints, { bodyLines });
        const lines = crlfLines(wire);
        expect(lines.at(-1)).toEqual(Buffer.from('.\r\n'));
        for (const line of lines.slice(0, -1)) {
          expect(line.subarray(-2)).toEqual(Buffer.from('\r\n'));
          if (line[0] === 0x2e) expect(line[1]).toBe(0x2e);
        }
        // No LF anywhere without its CR (bare LF would be read differently by strict clients).
        for (let i = wire.indexOf(0x0a); i !== -1; i = wire.indexOf(0x0a, i + 1)) expect(wire[i - 1]).toBe(0x0d);
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
