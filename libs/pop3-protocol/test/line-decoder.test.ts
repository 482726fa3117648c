import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineDecoder } from '../src/index.ts';
import type { DecodedLine } from '../src/index.ts';
import { chunk, cuts, wireBytes } from './arbitraries.ts';

const lines = (text: string): DecodedLine[] => text.split('|').map((t) => ({ kind: 'line', text: t }));

function pushAll(dec: LineDecoder, chunks: (string | Buffer)[]): DecodedLine[] {
  return chunks.flatMap((c) => dec.push(typeof c === 'string' ? Buffer.from(c, 'latin1') : c));
}

describe('LineDecoder', () => {
  it('splits on CRLF and on bare LF', () => {
    const dec = new LineDecoder({ maxLineLength: 100 });
    expect(dec.push(Buffer.from('USER bob\r\nPASS x y\nQUIT\r\n'))).toEqual(lines('USER bob|PASS x y|QUIT'));
  });

  it('keeps a partial line until its LF arrives', () => {
    const dec = new LineDecoder({ maxLineLength: 100 });
    expect(dec.push(Buffer.from('ST'))).toEqual([]);
    expect(dec.pendingBytes).toBe(2);
    expect(dec.push(Buffer.from('AT\r'))).toEqual([]);
    expect(dec.push(Buffer.from('\nNO'))).toEqual(lines('STAT'));
    expect(dec.pendingBytes).toBe(2);
  });

  it('strips only the CR right before LF; other CRs are content', () => {
    const dec = new LineDecoder({ maxLineLength: 100 });
    expect(pushAll(dec, ['a\rb\r\r\n', 'c\r', 'd\n'])).toEqual(lines('a\rb\r|c\rd'));
  });

  it('yields empty lines', () => {
    const dec = new LineDecoder({ maxLineLength: 100 });
    expect(pushAll(dec, ['\r\n\n', '\r', '\n'])).toEqual(lines('||'));
  });

  it('decodes UTF-8, also when a character is split across chunks', () => {
    const bytes = Buffer.from('PASS pässwörd€\r\n');
    const dec = new LineDecoder({ maxLineLength: 100 });
    expect(pushAll(dec, [bytes.subarray(0, 7), bytes.subarray(7, 15), bytes.subarray(15)])).toEqual(lines('PASS pässwörd€'));
  });

  it('passes NUL bytes through (the command parser rejects them)', () => {
    const dec = new LineDecoder({ maxLineLength: 100 });
    expect(dec.push(Buffer.from('US\0ER\r\n'))).toEqual(lines('US\0ER'));
  });

  it('accepts a line of exactly maxLineLength, even with its CR at a chunk end', () => {
    const dec = new LineDecoder({ maxLineLength: 4 });
    expect(pushAll(dec, ['abcd\r', '\n', 'efgh\r\n'])).toEqual(lines('abcd|efgh'));
    expect(dec.overflowing).toBe(false);
  });

  it('reports an overlong line once, with its length, and discards its bytes as they come', () => {
    const dec = new LineDecoder({ maxLineLength: 4 });
    expect(dec.push(Buffer.from('ok\r\nabc'))).toEqual(lines('ok'));
    expect(dec.push(Buffer.from('de'))).toEqual([]);
    expect(dec.overflowing).toBe(true);
    expect(dec.pendingBytes).toBe(0);
    expect(dec.push(Buffer.from('x'.repeat(10_000)))).toEqual([]);
    expect(dec.pendingBytes).toBe(0);
    expect(dec.push(Buffer.from('\r\nQUIT\r\n'))).toEqual([{ kind: 'too-long', length: 10_005 }, { kind: 'line', text: 'QUIT' }]);
    expect(dec.overflowing).toBe(false);
  });

  it('reports an overlong line that arrives in one chunk', () => {
    const dec = new LineDecoder({ maxLineLength: 4 });
    expect(dec.push(Buffer.from('abcde\nabcd\n'))).toEqual([{ kind: 'too-long', length: 5 }, { kind: 'line', text: 'abcd' }]);
  });

  it('counts a held CR that turns out to be content towards the limit', () => {
    const dec = new LineDecoder({ maxLineLength: 4 });
    expect(pushAll(dec, ['abcd\r', 'x\n'])).toEqual([{ kind: 'too-long', length: 6 }]);
  });

  it('rejects an invalid maxLineLength', () => {
    expect(() => new LineDecoder({ maxLineLength: 0 })).toThrow(RangeError);
    expect(() => new LineDecoder({ maxLineLength: Number.NaN })).toThrow(RangeError);
  });
});

/** Reference: split the whole input at LF, strip one CR before each LF, classify by byte length. */
function reference(data: Buffer, max: number): { items: DecodedLine[]; tail: Buffer } {
  const items: DecodedLine[] = [];
  let start = 0;
  for (let lf = data.indexOf(0x0a); lf !== -1; lf = data.indexOf(0x0a, start)) {
    const end = lf > start && data[lf - 1] === 0x0d ? lf - 1 : lf;
    const len = end - start;
    items.push(len > max ? { kind: 'too-long', length: len } : { kind: 'line', text: data.toString('utf8', start, end) });
    start = lf + 1;
  }
  const rest = data.subarray(start);
  return { items, tail: rest.at(-1) === 0x0d ? rest.subarray(0, -1) : rest };
}

describe('LineDecoder (property)', () => {
  it('yields the same lines as splitting the whole input, under any chunking, with bounded memory', () => {
    fc.assert(
      fc.property(wireBytes, cuts, fc.integer({ min: 1, max: 40 }), (data, cutPoints, max) => {
        const dec = new LineDecoder({ maxLineLength: max });
        const got: DecodedLine[] = [];
        for (const c of chunk(data, cutPoints, true)) {
          got.push(...dec.push(c));
          expect(dec.pendingBytes).toBeLessThanOrEqual(max);
        }
        const { items, tail } = reference(data, max);
        // Equal sequences also mean each overlong line is reported exactly once.
        expect(got).toEqual(items);
        expect(dec.overflowing).toBe(tail.length > max);
        expect(dec.pendingBytes).toBe(tail.length > max ? 0 : tail.length);
      }),
      { numRuns: 500 },
    );
  });
});
