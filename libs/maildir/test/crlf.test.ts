import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CrlfToLf, SizeCounter, crlfToLf } from '../src/crlf.ts';
import { referenceCrlfToLf, referenceWireSize } from './helpers.ts';

const b = (s: string) => Buffer.from(s, 'latin1');

/** Bytes rich in CR and LF so the interesting cases come up often. */
const messageBytes = fc
  .array(fc.oneof(fc.constantFrom(13, 10, 13, 10, 65), fc.integer({ min: 0, max: 255 })), { maxLength: 300, size: 'medium' })
  .map((a) => Uint8Array.from(a));

function cutInto(data: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((x, y) => x - y);
  const parts: Uint8Array[] = [];
  let start = 0;
  for (const p of points) {
    parts.push(data.subarray(start, p));
    start = p;
  }
  parts.push(data.subarray(start));
  return parts;
}

describe('crlfToLf', () => {
  it('turns CRLF into LF and keeps lone CR and bare LF', () => {
    expect(crlfToLf(b('a\r\nb\r\n')).toString('latin1')).toBe('a\nb\n');
    expect(crlfToLf(b('a\rb\r')).toString('latin1')).toBe('a\rb\r');
    expect(crlfToLf(b('a\nb')).toString('latin1')).toBe('a\nb');
    expect(crlfToLf(b('\r\r\n\n')).toString('latin1')).toBe('\r\n\n');
    expect(crlfToLf(b('')).length).toBe(0);
  });
});

describe('CrlfToLf streaming', () => {
  it('handles a CR at the end of one chunk and LF at the start of the next', () => {
    const conv = new CrlfToLf();
    const out = Buffer.concat([conv.push(b('line\r')), conv.push(b('\nnext\r')), conv.push(b('x')), conv.end()]);
    expect(out.toString('latin1')).toBe('line\nnext\rx');
  });

  it('keeps a CR that ends the whole input, and survives empty chunks', () => {
    const conv = new CrlfToLf();
    const out = Buffer.concat([conv.push(b('a\r')), conv.push(b('')), conv.push(b('\r')), conv.end()]);
    expect(out.toString('latin1')).toBe('a\r\r');
  });

  it('equals the reference conversion for any bytes and any chunking', () => {
    fc.assert(
      fc.property(messageBytes, fc.array(fc.nat(), { maxLength: 20, size: 'medium' }), (data, cuts) => {
        const conv = new CrlfToLf();
        const out = Buffer.concat([...cutInto(data, cuts).map((p) => conv.push(p)), conv.end()]);
        expect(out).toEqual(referenceCrlfToLf(data));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('SizeCounter', () => {
  it('counts bare LFs across chunk boundaries', () => {
    const counter = new SizeCounter();
    counter.add(b('a\r'));
    counter.add(b('\nb\n'));
    counter.add(b('\n'));
    expect(counter.size).toBe(6);
    expect(counter.wireSize).toBe(8);
  });

  it('equals the reference wire size for any bytes and any chunking', () => {
    fc.assert(
      fc.property(messageBytes, fc.array(fc.nat(), { maxLength: 20, size: 'medium' }), (data, cuts) => {
        const counter = new SizeCounter();
        for (const part of cutInto(data, cuts)) counter.add(part);
        expect(counter.size).toBe(data.length);
        expect(counter.wireSize).toBe(referenceWireSize(data));
      }),
      { numRuns: 1000 },
    );
  });
});
