/**
 * Property (a): the streaming encoder equals the one-shot encoder under any chunking, equals a
 * byte-by-byte reference, and the client decoder (under any chunking) undoes it exactly.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MessageEncoder, MultilineDecoder, encodeMessage } from '../src/index.ts';
import type { MessageEncoderOptions } from '../src/index.ts';
import { chunk, crlfLines, cuts, expectedMessage, isEmptyLine, naiveWire, wireBytes } from './arbitraries.ts';

function encodeChunked(data: Buffer, cutPoints: number[], opts?: MessageEncoderOptions): Buffer {
  const enc = new MessageEncoder(opts);
  const parts = chunk(data, cutPoints, true).map((c) => enc.write(c));
  parts.push(enc.end());
  return Buffer.concat(parts);
}

function decodeChunked(wire: Buffer, cutPoints: number[]): { body: Buffer; rest: Buffer; done: boolean } {
  const dec = new MultilineDecoder({ maxLineLength: 1_000_000 });
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
