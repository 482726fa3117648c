/**
 * {BLF-CRYPT}: bcrypt `$2y$` / `$2b$` / `$2a$` via hash-wasm. Passwords are cut to 72 bytes
 * first, as crypt_blowfish (Dovecot, PHP, OpenBSD) does; hash-wasm would otherwise refuse them.
 * hash-wasm is imported on first use: loading it costs ~20 ms of every start.
 */
import { randomBytes } from 'node:crypto';

export const BCRYPT_DEFAULT_COST = 10;
const MAX_PASSWORD_BYTES = 72;
const BCRYPT = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;

export function isBcryptHash(value: string): boolean {
  return /^\$2[aby]\$/.test(value);
}

export function bcryptProblem(value: string): string | null {
  const match = BCRYPT.exec(value);
  if (!match) return 'not a bcrypt hash ($2y$NN$ + 53 characters)';
  const cost = Number(match[1]);
  return cost >= 4 && cost <= 31 ? null : 'bcrypt cost must be 04..31';
}

export async function bcryptVerifyTruncated(value: string, password: string): Promise<boolean> {
  if (bcryptProblem(value) !== null) return false;
  try {
    const { bcryptVerify } = await import('hash-wasm');
    return await bcryptVerify({ password: truncate(password), hash: value });
  } catch {
    return false;
  }
}

export async function bcryptHash(password: string, cost: number = BCRYPT_DEFAULT_COST): Promise<string> {
  const { bcrypt } = await import('hash-wasm');
  const encoded = await bcrypt({ password: truncate(password), salt: randomBytes(16), costFactor: cost, outputType: 'encoded' });
  // Dovecot writes $2y$; the algorithm is identical for every password this code can produce.
  return encoded.replace(/^\$2[ab]\$/, '$2y$');
}

function truncate(password: string): Uint8Array {
  return Buffer.from(password, 'utf8').subarray(0, MAX_PASSWORD_BYTES);
}
