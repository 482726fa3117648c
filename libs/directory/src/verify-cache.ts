/**
 * Remembers successful verifications of deliberately slow hashes (argon2, bcrypt, SHA-crypt)
 * so a client that logs in every minute costs one HMAC instead of an argon2 run.
 *
 * Only successes are stored, and the key covers the stored value as well as the password, so
 * changing a password (which changes the stored value) can never be answered from the cache.
 * The key is an HMAC-SHA-256 under a per-process random key rather than a bare SHA-256: a
 * memory dump of the cache then gives no fast offline test for candidate passwords.
 */
import { createHmac, randomBytes } from 'node:crypto';

export const DEFAULT_VERIFY_CACHE_SIZE = 1000;

export class VerifyCache {
  readonly #key = randomBytes(32);
  // A Map iterates in insertion order: re-inserting on a hit makes the first key the least recently used.
  readonly #entries = new Map<string, true>();
  #hits = 0;
  #misses = 0;

  /** `maxEntries` 0 disables caching entirely. */
  constructor(readonly maxEntries: number = DEFAULT_VERIFY_CACHE_SIZE) {
    if (!Number.isInteger(maxEntries) || maxEntries < 0) throw new RangeError('verify cache size must be an integer >= 0');
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Lookups answered from / missed by the cache (for tests and metrics). */
  get stats(): { readonly hits: number; readonly misses: number } {
    return { hits: this.#hits, misses: this.#misses };
  }

  /** Whether this exact stored value + password pair was verified successfully before. */
  has(stored: string, password: string): boolean {
    if (this.maxEntries === 0) return false;
    const key = this.#keyOf(stored, password);
    if (!this.#entries.has(key)) {
      this.#misses++;
      return false;
    }
    this.#entries.delete(key);
    this.#entries.set(key, true);
    this.#hits++;
    return true;
  }

  /** Record a successful verification; callers must never record a failure. */
  remember(stored: string, password: string): void {
    if (this.maxEntries === 0) return;
    const key = this.#keyOf(stored, password);
    this.#entries.delete(key);
    this.#entries.set(key, true);
    while (this.#entries.size > this.maxEntries) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
  }

  clear(): void {
    this.#entries.clear();
  }

  #keyOf(stored: string, password: string): string {
    // The length prefix keeps (stored, password) pairs unambiguous even if a stored value held a NUL.
    const storedBytes = Buffer.from(stored, 'utf8');
    return createHmac('sha256', this.#key)
      .update(`${storedBytes.length}:`)
      .update(storedBytes)
      .update('\0')
      .update(password, 'utf8')
      .digest('base64');
  }
}
