/**
 * Shared byte helpers (module-private; not exported from index.ts).
 *
 * The codecs write byte values as literals (0x0a LF, 0x0d CR, 0x2e ".", 0x00 NUL) rather than
 * named constants: V8 does not constant-fold module-level bindings (each use is a context load
 * with a TDZ check), which measured ~40% slower in the per-line loops.
 */

export const EMPTY: Buffer = Buffer.alloc(0);
export const CR_BUF: Buffer = Buffer.from('\r', 'latin1');

/** Throws unless n is a positive safe integer (for option validation). */
export function assertPositiveInt(name: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`${name} must be a positive integer, got ${n}`);
}
