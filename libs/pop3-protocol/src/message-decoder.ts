import { CR_BUF, EMPTY, assertPositiveInt } from './bytes.ts';
import { ProtocolError } from './errors.ts';

export interface MultilineDecoderOptions {
  /** Longest accepted line in bytes (after un-stuffing, without CRLF); longer means a hostile or broken server. */
  maxLineLength: number;
}

export interface MultilineChunk {
  /** Body bytes, CRLF line endings kept, dot-stuffing removed; slices of the input where possible. */
  data: Buffer[];
  /** The terminating "." line was seen; push() must not be called again. */
  done: boolean;
  /** Bytes after the terminator (start of the next pipelined reply); empty unless done. */
  rest: Buffer;
}

/**
 * What the previous chunk ended in, when its meaning depends on the next byte:
 * a "." at line start (stuffing or terminator?) or ".\r" at line start (terminator or ".\rX"?).
 */
const HELD_NONE = 0;
const HELD_DOT = 1;
const HELD_DOT_CR = 2;
type Held = typeof HELD_NONE | typeof HELD_DOT | typeof HELD_DOT_CR;

/**
 * Client side: consumes a multi-line response body (after the +OK status line) and yields the
 * message bytes. Nothing is buffered or copied: returned data are views into the pushed chunks,
 * so memory does not grow with message size; the line limit only guards against a server that
 * never sends a line break.
 */
export class MultilineDecoder {
  readonly #max: number;
  /** Bytes of the current line seen so far, stuffing dot excluded (0 at line start). */
  #lineLen = 0;
  #atLineStart = true;
  /** The previous chunk ended with CR mid-line (it may pair with an LF at the start of this one). */
  #lastCr = false;
  #held: Held = HELD_NONE;
  #done = false;

  constructor(opts: MultilineDecoderOptions) {
    assertPositiveInt('maxLineLength', opts.maxLineLength);
    this.#max = opts.maxLineLength;
  }

  get done(): boolean {
    return this.#done;
  }

  push(chunk: Buffer): MultilineChunk {
    if (this.#done) throw new Error('MultilineDecoder: push() after the terminating line');
    const data: Buffer[] = [];
    const n = chunk.length;
    let pos = 0;

    if (n > 0 && this.#held !== HELD_NONE) {
      const b = chunk[0];
      if (this.#held === HELD_DOT) {
        this.#held = HELD_NONE;
        if (b === 0x0a /* LF */) return this.#finish(data, chunk.subarray(1));
        if (b === 0x0d /* CR */) {
          if (n === 1) {
            this.#held = HELD_DOT_CR;
            return { data, done: false, rest: EMPTY };
          }
          if (chunk[1] === 0x0a /* LF */) return this.#finish(data, chunk.subarray(2));
        }
        // A stuffed dot: drop it and go on with the line.
      } else {
        this.#held = HELD_NONE;
        if (b === 0x0a /* LF */) return this.#finish(data, chunk.subarray(1));
        // ".\r" then something else: a line starting with a lone CR, which is content.
        data.push(CR_BUF);
        this.#lineLen = 1;
      }
      this.#atLineStart = false;
    }

    let segStart = 0;
    while (pos < n) {
      if (this.#atLineStart) {
        this.#atLineStart = false;
        if (chunk[pos] === 0x2e /* . */) {
          // Terminator is ".\r\n" (".\n" tolerated from sloppy servers); otherwise drop the dot.
          if (pos + 1 === n) {
            this.#pushSeg(data, chunk, segStart, pos);
            this.#held = HELD_DOT;
            return { data, done: false, rest: EMPTY };
          }
          const b = chunk[pos + 1];
          if (b === 0x0a /* LF */) {
            this.#pushSeg(data, chunk, segStart, pos);
            return this.#finish(data, chunk.subarray(pos + 2));
          }
          if (b === 0x0d /* CR */) {
            if (pos + 2 === n) {
              this.#pushSeg(data, chunk, segStart, pos);
              this.#held = HELD_DOT_CR;
              return { data, done: false, rest: EMPTY };
            }
            if (chunk[pos + 2] === 0x0a /* LF */) {
              this.#pushSeg(data, chunk, segStart, pos);
              return this.#finish(data, chunk.subarray(pos + 3));
            }
          }
          this.#pushSeg(data, chunk, segStart, pos);
          pos += 1;
          segStart = pos;
          continue;
        }
      }
      const lf = chunk.indexOf(0x0a /* LF */, pos);
      if (lf === -1) {
        const len = this.#lineLen + (n - pos);
        // The last byte may be the CR of a CRLF still to come, so allow one extra here.
        if (len > this.#max + 1 || (len > this.#max && chunk[n - 1] !== 0x0d /* CR */)) this.#tooLong(len);
        this.#lineLen = len;
        this.#lastCr = chunk[n - 1] === 0x0d /* CR */;
        break;
      }
      let len = this.#lineLen + (lf - pos);
      if (lf > pos ? chunk[lf - 1] === 0x0d /* CR */ : this.#lastCr) len -= 1;
      if (len > this.#max) this.#tooLong(len);
      this.#lineLen = 0;
      this.#lastCr = false;
      this.#atLineStart = true;
      pos = lf + 1;
    }
    this.#pushSeg(data, chunk, segStart, n);
    return { data, done: false, rest: EMPTY };
  }

  #pushSeg(data: Buffer[], chunk: Buffer, start: number, end: number): void {
    if (end > start) data.push(start === 0 && end === chunk.length ? chunk : chunk.subarray(start, end));
  }

  #finish(data: Buffer[], rest: Buffer): MultilineChunk {
    this.#done = true;
    return { data, done: true, rest };
  }

  #tooLong(len: number): never {
    throw new ProtocolError('line-too-long', `response line longer than ${this.#max} bytes (${len} seen)`);
  }
}
