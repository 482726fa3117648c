const CR = 0x0d;
const LF = 0x0a;

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Streaming CRLF→LF conversion. A CR ending one chunk is held back until the next chunk
 * shows whether an LF follows; a lone CR is kept as is.
 */
export class CrlfToLf {
  private pendingCr = false;

  push(chunk: Uint8Array): Buffer {
    const input = asBuffer(chunk);
    let cr = input.indexOf(CR);
    // Fast path: nothing to convert and nothing held back, so hand the chunk through uncopied.
    if (!this.pendingCr && cr < 0) return input;
    const out = Buffer.allocUnsafe(input.length + 1);
    let o = 0;
    let i = 0;
    if (this.pendingCr) {
      this.pendingCr = false;
      if (input.length === 0) {
        this.pendingCr = true;
        return input;
      }
      if (input[0] === LF) {
        out[o++] = LF;
        i = 1;
      } else {
        out[o++] = CR;
      }
      cr = input.indexOf(CR, i);
    }
    while (cr >= 0) {
      o += input.copy(out, o, i, cr);
      if (cr === input.length - 1) {
        this.pendingCr = true;
        i = input.length;
        break;
      }
      if (input[cr + 1] === LF) {
        out[o++] = LF;
        i = cr + 2;
      } else {
        out[o++] = CR;
        i = cr + 1;
      }
      cr = input.indexOf(CR, i);
    }
    o += input.copy(out, o, i);
    return out.subarray(0, o);
  }

  /** Releases a CR held back at the very end of the input. */
  end(): Buffer {
    if (!this.pendingCr) return Buffer.alloc(0);
    this.pendingCr = false;
    return Buffer.from([CR]);
  }
}

/** Converts a whole buffer at once (the small-message path). */
export function crlfToLf(bytes: Uint8Array): Buffer {
  const conv = new CrlfToLf();
  const head = conv.push(bytes);
  const tail = conv.end();
  return tail.length === 0 ? head : Buffer.concat([head, tail]);
}

/**
 * Counts stored octets and wire octets (each LF not preceded by CR becomes CRLF on the
 * wire), across chunk boundaries.
 */
export class SizeCounter {
  size = 0;
  wireSize = 0;
  private lastWasCr = false;

  add(chunk: Uint8Array): void {
    const input = asBuffer(chunk);
    if (input.length === 0) return;
    let bareLf = 0;
    let lf = input.indexOf(LF);
    while (lf >= 0) {
      const prevIsCr = lf === 0 ? this.lastWasCr : input[lf - 1] === CR;
      if (!prevIsCr) bareLf++;
      lf = input.indexOf(LF, lf + 1);
    }
    this.lastWasCr = input[input.length - 1] === CR;
    this.size += input.length;
    this.wireSize += input.length + bareLf;
  }
}
