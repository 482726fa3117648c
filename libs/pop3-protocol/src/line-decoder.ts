import { assertPositiveInt } from './bytes.ts';

/** One line from the peer: its text (CRLF/LF stripped), or the length of a line we refused to keep. */
export type DecodedLine = { kind: 'line'; text: string } | { kind: 'too-long'; length: number };

export interface LineDecoderOptions {
  /** Longest accepted line in bytes, not counting the CRLF / LF terminator. */
  maxLineLength: number;
}

/**
 * Splits a byte stream into lines (commands on the server, status lines on the client).
 *
 * Lines end at LF; a CR right before the LF is stripped, so bare-LF peers work too.
 * Memory is bounded: at most maxLineLength bytes of a partial line are held (in one buffer
 * allocated once); a longer line is discarded as it arrives and reported once, as `too-long`,
 * when its LF shows up.
 */
export class LineDecoder {
  readonly #max: number;
  /** Partial-line bytes copied out of earlier chunks; allocated on first need. */
  #buf: Buffer | null = null;
  #len = 0;
  /**
   * The previous chunk ended with CR. It is held back (not in #buf) until we know whether an
   * LF follows, so a line of exactly maxLineLength bytes + CR never counts as overlong.
   */
  #crHeld = false;
  #overflowing = false;
  /** Bytes seen so far of the overlong line being discarded. */
  #overflowLen = 0;

  constructor(opts: LineDecoderOptions) {
    assertPositiveInt('maxLineLength', opts.maxLineLength);
    this.#max = opts.maxLineLength;
  }

  /** Bytes of an unfinished line currently held (never more than maxLineLength). */
  get pendingBytes(): number {
    return this.#len;
  }

  /** True while an overlong line is being discarded; a server may close the connection early. */
  get overflowing(): boolean {
    return this.#overflowing;
  }

  push(chunk: Buffer): DecodedLine[] {
    const out: DecodedLine[] = [];
    const n = chunk.length;
    if (n === 0) return out;
    let pos = 0;

    if (this.#crHeld) {
      this.#crHeld = false;
      if (chunk[0] === 0x0a /* LF */) {
        this.#emit(out, chunk, 0, 0);
        pos = 1;
      } else {
        // A lone CR inside the line: it is content after all.
        this.#appendCr();
      }
    }

    while (pos < n) {
      const lf = chunk.indexOf(0x0a /* LF */, pos);
      if (lf === -1) {
        let end = n;
        if (chunk[n - 1] === 0x0d /* CR */) {
          this.#crHeld = true;
          end = n - 1;
        }
        this.#append(chunk, pos, end);
        break;
      }
      // A CR before the LF at chunk position pos-1 or earlier was already handled as #crHeld.
      const end = lf > pos && chunk[lf - 1] === 0x0d /* CR */ ? lf - 1 : lf;
      this.#emit(out, chunk, pos, end);
      pos = lf + 1;
    }
    return out;
  }

  /** Finish the current line: held bytes plus chunk[start, end). */
  #emit(out: DecodedLine[], chunk: Buffer, start: number, end: number): void {
    const k = end - start;
    if (this.#overflowing) {
      out.push({ kind: 'too-long', length: this.#overflowLen + k });
      this.#overflowing = false;
      this.#overflowLen = 0;
      return;
    }
    const total = this.#len + k;
    if (total > this.#max) {
      out.push({ kind: 'too-long', length: total });
    } else if (this.#len === 0) {
      // Common case: the whole line is inside this chunk; decode straight from it.
      out.push({ kind: 'line', text: chunk.toString('utf8', start, end) });
    } else {
      const buf = this.#buffer();
      chunk.copy(buf, this.#len, start, end);
      out.push({ kind: 'line', text: buf.toString('utf8', 0, total) });
    }
    this.#len = 0;
  }

  /** Keep chunk[start, end) of an unfinished line, or start/continue discarding it. */
  #append(chunk: Buffer, start: number, end: number): void {
    const k = end - start;
    if (this.#overflowing) {
      this.#overflowLen += k;
    } else if (this.#len + k > this.#max) {
      this.#overflowing = true;
      this.#overflowLen = this.#len + k;
      this.#len = 0;
    } else if (k > 0) {
      chunk.copy(this.#buffer(), this.#len, start, end);
      this.#len += k;
    }
  }

  #appendCr(): void {
    if (this.#overflowing) {
      this.#overflowLen += 1;
    } else if (this.#len + 1 > this.#max) {
      this.#overflowing = true;
      this.#overflowLen = this.#len + 1;
      this.#len = 0;
    } else {
      this.#buffer()[this.#len++] = 0x0d /* CR */;
    }
  }

  #buffer(): Buffer {
    return (this.#buf ??= Buffer.allocUnsafe(this.#max));
  }
}
