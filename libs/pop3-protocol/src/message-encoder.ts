import { EMPTY } from './bytes.ts';

export interface MessageEncoderOptions {
  /** TOP n: send the header, the empty line, then n body lines, then stop. */
  bodyLines?: number;
  /** Replace NUL bytes with 0x80 (Dovecot's outlook-no-nuls: Outlook hangs on NULs). */
  outlookNoNuls?: boolean;
  /** If no empty line ends the header, add one at the end (Dovecot's oe-ns-eoh workaround). */
  addMissingEoh?: boolean;
}

/** ".\r\n" terminator, optionally preceded by the CRLF a final partial line needs and an EOH. */
const TAIL_MAX = 2 + 2 + 3;
const NUL_REPLACEMENT = 0x80;

let encodeWhole: (data: Buffer, opts: MessageEncoderOptions | undefined, prefix: string) => Buffer;

/**
 * Server side: turns stored message bytes (LF or CRLF line endings) into a RETR/TOP body on
 * the wire: bare LF -> CRLF, lines starting with "." get another ".", and `end()` adds the
 * ".\r\n" terminator (after a CRLF if the message lacks a final one).
 *
 * Lines are found with Buffer#indexOf and moved as blocks inside one output buffer per call,
 * sized for the worst case (2x: every byte an LF, or "." LF pairs); no per-line allocation.
 */
export class MessageEncoder {
  readonly #noNuls: boolean;
  readonly #addEoh: boolean;
  /** Bytes of the current line emitted so far (0 = at line start, so a "." needs stuffing). */
  #lineBytes = 0;
  /** The last byte emitted was CR, so an LF starting the next chunk needs no CR of its own. */
  #lastCr = false;
  #inHeader = true;
  /** Body lines still to send for TOP; -1 = no limit (RETR). */
  #bodyLeft: number;
  #done = false;
  #ended = false;

  // Gives encodeMessage the private single-buffer path without making it public API.
  static {
    encodeWhole = (data, opts, prefix) => {
      const enc = new MessageEncoder(opts);
      const out = Buffer.allocUnsafe(prefix.length + data.length * 2 + TAIL_MAX);
      const start = prefix.length > 0 ? out.write(prefix, 0, 'latin1') : 0;
      const o = data.length > 0 ? enc.#encodeInto(data, out, start) : start;
      return out.subarray(0, enc.#finishInto(out, o));
    };
  }

  constructor(opts: MessageEncoderOptions = {}) {
    const limit = opts.bodyLines;
    if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 0)) {
      throw new RangeError(`bodyLines must be a non-negative integer, got ${limit}`);
    }
    this.#bodyLeft = limit ?? -1;
    this.#noNuls = opts.outlookNoNuls === true;
    this.#addEoh = opts.addMissingEoh === true;
  }

  /** True once TOP's body lines have all been emitted: the caller can stop reading the file. */
  get done(): boolean {
    return this.#done;
  }

  /** Encode the next chunk of the message. Returns a fresh buffer (safe to queue for writing). */
  write(chunk: Buffer): Buffer {
    if (this.#ended) throw new Error('MessageEncoder: write() after end()');
    if (this.#done || chunk.length === 0) return EMPTY;
    const out = Buffer.allocUnsafe(chunk.length * 2);
    return out.subarray(0, this.#encodeInto(chunk, out, 0));
  }

  /**
   * Encode the next chunk into `out` from its start, for callers that reuse their buffers;
   * `out` must hold twice the chunk. Returns the bytes written.
   */
  writeInto(chunk: Buffer, out: Buffer): number {
    if (this.#ended) throw new Error('MessageEncoder: writeInto() after end()');
    if (out.length < chunk.length * 2) throw new RangeError(`MessageEncoder: output of ${out.length} bytes is too small for a chunk of ${chunk.length}`);
    if (this.#done || chunk.length === 0) return 0;
    return this.#encodeInto(chunk, out, 0);
  }

  /** The rest of the response: a CRLF if the last line lacks one, an EOH if asked, then ".\r\n". */
  end(): Buffer {
    if (this.#ended) throw new Error('MessageEncoder: end() called twice');
    const out = Buffer.allocUnsafe(TAIL_MAX);
    return out.subarray(0, this.#finishInto(out, 0));
  }

  /** Encode chunk into out at offset o (out must have 2 * chunk.length bytes free); returns the new offset. */
  #encodeInto(chunk: Buffer, out: Buffer, o: number): number {
    const n = chunk.length;
    const start = o;
    // One memcpy of the chunk into the upper half of the output, then each line is moved down
    // into place with copyWithin (a memmove, much cheaper per call than Buffer#copy on short
    // lines). Output for an input prefix of q bytes is at most 2q bytes, so writes never
    // overtake input not yet moved.
    const base = o + n;
    chunk.copy(out, base);
    // State in locals for the hot loop; written back at the end.
    let lineBytes = this.#lineBytes;
    let lastCr = this.#lastCr;
    let inHeader = this.#inHeader;
    let bodyLeft = this.#bodyLeft;
    let done = false;
    let pos = 0;
    while (pos < n) {
      if (lineBytes === 0 && chunk[pos] === 0x2e /* . */) out[o++] = 0x2e /* . */;
      const lf = chunk.indexOf(0x0a /* LF */, pos);
      if (lf === -1) {
        out.copyWithin(o, base + pos, base + n);
        o += n - pos;
        lineBytes += n - pos;
        lastCr = chunk[n - 1] === 0x0d /* CR */;
        break;
      }
      const k = lf - pos;
      if (k > 0) {
        out.copyWithin(o, base + pos, base + lf);
        o += k;
      }
      const hadCr = k > 0 ? chunk[lf - 1] === 0x0d /* CR */ : lastCr;
      if (!hadCr) out[o++] = 0x0d /* CR */;
      out[o++] = 0x0a /* LF */;
      const lineLen = lineBytes + k;
      lineBytes = 0;
      lastCr = false;
      pos = lf + 1;

      if (inHeader) {
        // An empty line (LF alone or CRLF) ends the header; TOP 0 stops right after it.
        if (lineLen === 0 || (lineLen === 1 && hadCr)) {
          inHeader = false;
          if (bodyLeft === 0) {
            done = true;
            break;
          }
        }
      } else if (bodyLeft > 0 && --bodyLeft === 0) {
        done = true;
        break;
      }
    }
    this.#lineBytes = lineBytes;
    this.#lastCr = lastCr;
    this.#inHeader = inHeader;
    this.#bodyLeft = bodyLeft;
    this.#done = done;
    if (this.#noNuls) replaceNuls(out.subarray(start, o));
    return o;
  }

  /** out must have TAIL_MAX bytes free at o; returns the new offset. */
  #finishInto(out: Buffer, o: number): number {
    this.#ended = true;
    if (this.#lineBytes > 0) {
      // The message ends without a line break; a lone trailing CR is content, so add CRLF.
      out[o++] = 0x0d /* CR */;
      out[o++] = 0x0a /* LF */;
      this.#lineBytes = 0;
    }
    if (this.#addEoh && this.#inHeader) {
      out[o++] = 0x0d /* CR */;
      out[o++] = 0x0a /* LF */;
    }
    out[o++] = 0x2e /* . */;
    out[o++] = 0x0d /* CR */;
    out[o++] = 0x0a /* LF */;
    return o;
  }
}

function replaceNuls(out: Buffer): void {
  for (let i = out.indexOf(0x00); i !== -1; i = out.indexOf(0x00, i + 1)) out[i] = NUL_REPLACEMENT;
}

/**
 * One-shot encoding of a whole message (small messages read into one buffer): one allocation,
 * same bytes as MessageEncoder.write(data) followed by end(). `prefix` (a latin1 status line)
 * goes in front in the same buffer, so a reply and its message leave as one write.
 */
export function encodeMessage(data: Buffer, opts?: MessageEncoderOptions, prefix = ''): Buffer {
  return encodeWhole(data, opts, prefix);
}
