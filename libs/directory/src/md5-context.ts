/**
 * MD5 (RFC 1321) with an exposed, settable chaining state. node:crypto cannot resume a hash
 * from an intermediate state, which Dovecot's {CRAM-MD5} scheme needs: it stores the HMAC
 * inner and outer states after their pad blocks instead of the password.
 */

/** The four 32-bit chaining words A, B, C, D. */
export type Md5State = readonly [number, number, number, number];

export const MD5_INITIAL_STATE: Md5State = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];
export const MD5_BLOCK_BYTES = 64;

// Per-round shift amounts and sine-derived constants from RFC 1321.
const SHIFTS = [
  7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
  4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15,
  21,
];
const K = Array.from({ length: 64 }, (_, i) => Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32) >>> 0);

export class Md5Context {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  /** Total bytes fed so far, including those represented by a preset state. */
  private length: number;
  private readonly pending = Buffer.alloc(MD5_BLOCK_BYTES);
  private pendingBytes = 0;
  private finished = false;

  /**
   * Start from `state`, as if `bytesProcessed` bytes (a whole number of blocks) had already
   * been hashed; the byte count matters because MD5's final padding encodes the total length.
   */
  constructor(state: Md5State = MD5_INITIAL_STATE, bytesProcessed = 0) {
    if (bytesProcessed % MD5_BLOCK_BYTES !== 0 || bytesProcessed < 0) {
      throw new RangeError('an MD5 state can only be resumed at a block boundary');
    }
    [this.a, this.b, this.c, this.d] = state;
    this.length = bytesProcessed;
  }

  update(data: Uint8Array | string): this {
    if (this.finished) throw new Error('MD5 context already finalised');
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    this.length += bytes.length;
    let offset = 0;
    if (this.pendingBytes > 0) {
      const take = Math.min(MD5_BLOCK_BYTES - this.pendingBytes, bytes.length);
      this.pending.set(bytes.subarray(0, take), this.pendingBytes);
      this.pendingBytes += take;
      offset = take;
      if (this.pendingBytes < MD5_BLOCK_BYTES) return this;
      this.processBlock(this.pending, 0);
      this.pendingBytes = 0;
    }
    for (; offset + MD5_BLOCK_BYTES <= bytes.length; offset += MD5_BLOCK_BYTES) this.processBlock(bytes, offset);
    if (offset < bytes.length) {
      this.pending.set(bytes.subarray(offset), 0);
      this.pendingBytes = bytes.length - offset;
    }
    return this;
  }

  /** The chaining state; only meaningful at a block boundary (no buffered partial block). */
  state(): Md5State {
    if (this.pendingBytes !== 0) throw new RangeError('MD5 state read in the middle of a block');
    return [this.a, this.b, this.c, this.d];
  }

  digest(): Buffer {
    if (this.finished) throw new Error('MD5 context already finalised');
    const bitLength = BigInt(this.length) * 8n;
    const padLength = ((MD5_BLOCK_BYTES + 56 - ((this.length + 1) % MD5_BLOCK_BYTES)) % MD5_BLOCK_BYTES) + 1;
    const trailer = Buffer.alloc(padLength + 8);
    trailer[0] = 0x80;
    trailer.writeBigUInt64LE(bitLength & 0xffffffffffffffffn, padLength);
    this.update(trailer);
    this.finished = true;
    return md5StateToBytes([this.a, this.b, this.c, this.d]);
  }

  private processBlock(block: Uint8Array, offset: number): void {
    const view = new DataView(block.buffer, block.byteOffset + offset, MD5_BLOCK_BYTES);
    const words = new Array<number>(16);
    for (let i = 0; i < 16; i++) words[i] = view.getUint32(i * 4, true);
    let a = this.a;
    let b = this.b;
    let c = this.c;
    let d = this.d;
    for (let i = 0; i < 64; i++) {
      let f: number;
      let g: number;
      if (i < 16) {
        f = (b & c) | (~b & d);
        g = i;
      } else if (i < 32) {
        f = (d & b) | (~d & c);
        g = (5 * i + 1) % 16;
      } else if (i < 48) {
        f = b ^ c ^ d;
        g = (3 * i + 5) % 16;
      } else {
        f = c ^ (b | ~d);
        g = (7 * i) % 16;
      }
      const sum = (a + f + K[i]! + words[g]!) | 0;
      const shift = SHIFTS[i]!;
      a = d;
      d = c;
      c = b;
      b = (b + ((sum << shift) | (sum >>> (32 - shift)))) | 0;
    }
    this.a = (this.a + a) >>> 0;
    this.b = (this.b + b) >>> 0;
    this.c = (this.c + c) >>> 0;
    this.d = (this.d + d) >>> 0;
  }
}

/** The state words serialised little-endian, which is also how MD5 emits its digest. */
export function md5StateToBytes(state: Md5State): Buffer {
  const out = Buffer.alloc(16);
  state.forEach((word, i) => out.writeUInt32LE(word >>> 0, i * 4));
  return out;
}

export function md5StateFromBytes(bytes: Uint8Array): Md5State {
  if (bytes.length !== 16) throw new RangeError('an MD5 state is 16 bytes');
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  return [buf.readUInt32LE(0), buf.readUInt32LE(4), buf.readUInt32LE(8), buf.readUInt32LE(12)];
}
