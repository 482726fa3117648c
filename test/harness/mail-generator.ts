/**
 * Deterministic synthetic mail (seeded PRNG: the same seed gives byte-identical messages and
 * Maildir names on every machine), a manifest of what was generated, and a check that a
 * downloaded Maildir holds exactly those messages.
 *
 * Sets:
 *   fixed4k(count)  every message exactly 4096 bytes on disk (LF line ends)
 *   mixed(count)    70 % 2-10 KiB, 25 % 50-300 KiB, 5 % large (1-3.5 MiB); for 300 messages ~49 MB,
 *                   the size of the `mix` set the peer baselines were measured on (with large messages
 *                   of only 1-2 MiB, 300 messages would come to ~37 MB)
 * Bodies contain lines that need POP3 dot-stuffing ('.', '..', '.word ...'), empty lines and
 * long lines (up to 998 octets, RFC 5322's limit).
 */
import { createHash } from 'node:crypto';
import { chown, mkdir, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface GeneratedMessage {
  /** Maildir file name (for new/), with ,S=<size>,W=<size with CRLF> like Dovecot's LDA writes. */
  readonly name: string;
  readonly messageId: string;
  /** The message with LF line ends, as stored on disk. */
  readonly bytes: Buffer;
  /** sha256 (hex) of `bytes`: what a POP3 RETR returns once un-dot-stuffed and CRLF→LF. */
  readonly sha256: string;
  /** sha256 of the body (everything after the first empty line), LF line ends. */
  readonly bodySha256: string;
  /** sha256 of the original header block (up to and including the LF before the empty line). */
  readonly headerSha256: string;
  /** The first header line of the original (retrievers add their headers above it). */
  readonly firstHeaderLine: string;
  readonly size: number;
  /** Size with CRLF line ends (what POP3 LIST reports). */
  readonly wireSize: number;
}

/** A generated message without its bytes: enough to verify a copy. */
export type ManifestEntry = Omit<GeneratedMessage, 'bytes'>;

// ---- PRNG -------------------------------------------------------------------------------------

/** sfc32 seeded through splitmix32: small, fast, and the same everywhere. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const split = () => {
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = split();
    this.b = split();
    this.c = split();
    this.d = split();
    for (let i = 0; i < 12; i++) this.next();
  }

  /** Uniform uint32. */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** [0, 1) */
  float(): number {
    return this.next() / 4294967296;
  }

  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[this.next() % items.length]!;
  }

  hex8(): string {
    return this.next().toString(16).padStart(8, '0');
  }
}

// ---- messages ---------------------------------------------------------------------------------

const WORDS = (
  'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna ' +
  'aliqua mail pop3 maildir retriever server node typescript bench quick brown fox jumps over lazy dog alpha beta ' +
  'gamma delta epsilon zeta theta invoice meeting tomorrow attached report quarterly regards thanks'
).split(' ');
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const LONG = 'long-'.repeat(200);

function rfc5322Date(seconds: number): string {
  const d = new Date(seconds * 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${DAYS[d.getUTCDay()]}, ${p(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

function words(rng: Rng, lo: number, hi: number): string {
  const n = rng.int(lo, hi);
  let s = rng.pick(WORDS);
  for (let i = 1; i < n; i++) s += ` ${rng.pick(WORDS)}`;
  return s;
}

/** Body of exactly `target` bytes: LF-terminated lines (the last one too, when target > 0). */
function body(rng: Rng, target: number): string {
  const lines: string[] = [];
  let left = target;
  while (left > 0) {
    const r = rng.float();
    let line: string;
    if (r < 0.04) line = '.';
    else if (r < 0.06) line = '..';
    else if (r < 0.14) line = `.${words(rng, 1, 10)}`;
    else if (r < 0.17) line = LONG.slice(0, rng.int(400, 998));
    else if (r < 0.21) line = '';
    else line = words(rng, 3, 14);
    if (line.length + 1 > left) line = line.slice(0, left - 1);
    lines.push(line);
    left -= line.length + 1;
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

function countLf(data: Buffer): number {
  let n = 0;
  for (let i = data.indexOf(10); i !== -1; i = data.indexOf(10, i + 1)) n++;
  return n;
}

/** One message of exactly `size` bytes (at least the header's length + 1). */
export function makeMessage(rng: Rng, set: string, seed: number, i: number, size: number): GeneratedMessage {
  const seconds = 1_700_000_000 + i * 37;
  const date = rfc5322Date(seconds);
  const messageId = `<${set}.${seed}.${String(i).padStart(6, '0')}.${rng.hex8()}@bench.example>`;
  const mx = i % 7;
  const firstHeaderLine = `Received: from mx${mx}.example.org (mx${mx}.example.org [192.0.2.${(i % 250) + 1}])`;
  const header =
    `${firstHeaderLine}\n` +
    `\tby mail.example.net (Postfix) with ESMTPS id ${rng.hex8().toUpperCase()}\n` +
    `\tfor <bench@example.net>; ${date}\n` +
    `From: Sender ${i % 97} <sender${i % 97}@example.org>\n` +
    'To: Bench User <bench@example.net>\n' +
    `Subject: synthetic message ${i} (${size} bytes) ${rng.pick(WORDS)}\n` +
    `Date: ${date}\n` +
    `Message-ID: ${messageId}\n` +
    'MIME-Version: 1.0\n' +
    'Content-Type: text/plain; charset=us-ascii\n' +
    'Content-Transfer-Encoding: 7bit\n' +
    `X-Bench-Seq: ${set} ${i}\n`;
  const bodyText = body(rng, Math.max(0, size - header.length - 1));
  const bytes = Buffer.from(`${header}\n${bodyText}`, 'latin1');
  const wireSize = bytes.length + countLf(bytes);
  const name = `${seconds}.M${(i * 7919) % 1_000_000}P${4000 + seed}Q${i + 1}.bench-gen,S=${bytes.length},W=${wireSize}`;
  return {
    name,
    messageId,
    bytes,
    sha256: sha256(bytes),
    bodySha256: sha256(bodyText),
    headerSha256: sha256(header),
    firstHeaderLine,
    size: bytes.length,
    wireSize,
  };
}

/** `count` messages of exactly 4096 bytes each. */
export function fixed4k(count: number, seed = 1): GeneratedMessage[] {
  return fixedSize(count, 4096, seed, 'fixed4k');
}

export function fixedSize(count: number, size: number, seed = 1, set = `fixed${size}`): GeneratedMessage[] {
  assertCount(count);
  const rng = new Rng(seed);
  const out: GeneratedMessage[] = [];
  for (let i = 0; i < count; i++) out.push(makeMessage(rng, set, seed, i, size));
  return out;
}

/**
 * 70 % small (2-10 KiB), 25 % medium (50-300 KiB), 5 % large (1-3.5 MiB). The class counts are
 * exact (rounded) and their order is shuffled, so the total does not swing with the draw.
 */
export function mixed(count: number, seed = 1): GeneratedMessage[] {
  assertCount(count);
  // Sizes come from their own stream, so changing a size range does not reshuffle the content.
  const sizes = new Rng(seed ^ 0x5eed);
  const content = new Rng(seed ^ 0xc0de);
  const large = Math.round(count * 0.05);
  const medium = Math.round(count * 0.25);
  const classes: Array<0 | 1 | 2> = [];
  for (let i = 0; i < count; i++) classes.push(i < large ? 2 : i < large + medium ? 1 : 0);
  for (let i = classes.length - 1; i > 0; i--) {
    const j = sizes.int(0, i);
    [classes[i], classes[j]] = [classes[j]!, classes[i]!];
  }
  const KiB = 1024;
  const MiB = 1024 * KiB;
  const picked = classes.map((cls) =>
    cls === 0 ? sizes.int(2 * KiB, 10 * KiB) : cls === 1 ? sizes.int(50 * KiB, 300 * KiB) : sizes.int(1 * MiB, LARGE_MAX_MIB * MiB),
  );
  return picked.map((size, i) => makeMessage(content, 'mixed', seed, i, size));
}

/** Upper bound of the large class: with it, mixed(300) is ~49 MB like the peers' `mix` set. */
const LARGE_MAX_MIB = 3.5;

function assertCount(count: number): void {
  if (!Number.isSafeInteger(count) || count < 0 || count > 1_000_000) throw new RangeError(`message count out of range: ${count}`);
}

export function totalBytes(messages: readonly { size: number }[]): number {
  return messages.reduce((sum, m) => sum + m.size, 0);
}

/** The messages without their bytes. */
export function manifest(messages: readonly GeneratedMessage[]): ManifestEntry[] {
  return messages.map(({ bytes: _bytes, ...entry }) => entry);
}

// ---- Maildir writing ----------------------------------------------------------------------------

export interface Owner {
  readonly uid: number;
  readonly gid: number;
}

const WRITE_CONCURRENCY = 32;

async function inBatches<T>(items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += WRITE_CONCURRENCY) await Promise.all(items.slice(i, i + WRITE_CONCURRENCY).map(fn));
}

/** Creates `dir`/{tmp,new,cur} (owned by `owner` when given). */
export async function makeMaildir(dir: string, owner?: Owner): Promise<void> {
  for (const sub of ['', 'tmp', 'new', 'cur']) {
    const path = join(dir, sub);
    await mkdir(path, { recursive: true, mode: 0o700 });
    if (owner) await chown(path, owner.uid, owner.gid);
  }
}

/** Writes each message to tmp/ and renames it into new/, as a delivering MDA does. */
export async function fillMaildir(dir: string, messages: readonly GeneratedMessage[], owner?: Owner): Promise<void> {
  await makeMaildir(dir, owner);
  await inBatches(messages, async (m) => {
    const tmp = join(dir, 'tmp', m.name);
    await writeFile(tmp, m.bytes, { mode: 0o600 });
    if (owner) await chown(tmp, owner.uid, owner.gid);
    await rename(tmp, join(dir, 'new', m.name));
  });
}

/**
 * Empties new/, cur/ and tmp/ and fills new/ again. With `resetIndex`, Dovecot's index and
 * uidlist files go too (the next session sees a new UIDVALIDITY, so new UIDLs).
 */
export async function refillMaildir(
  dir: string,
  messages: readonly GeneratedMessage[],
  options: { owner?: Owner; resetIndex?: boolean } = {},
): Promise<void> {
  await makeMaildir(dir, options.owner);
  for (const sub of ['new', 'cur', 'tmp']) {
    const names = await readdir(join(dir, sub));
    await inBatches(names, (name) => unlink(join(dir, sub, name)).catch(() => undefined));
  }
  if (options.resetIndex) {
    for (const name of await readdir(dir)) {
      if (name.startsWith('dovecot')) await unlink(join(dir, name)).catch(() => undefined);
    }
  }
  await fillMaildir(dir, messages, options.owner);
}

// ---- verification -------------------------------------------------------------------------------

export interface Mismatch {
  readonly messageId: string;
  readonly file: string;
  readonly reason: string;
}

export interface VerifyResult {
  readonly ok: boolean;
  /** How many message files were read. */
  readonly found: number;
  /** Message-IDs expected and not found (once per missing copy). */
  readonly missing: string[];
  /** Files whose Message-ID was not expected, or one copy too many. */
  readonly extra: string[];
  readonly mismatched: Mismatch[];
}

export interface VerifyOptions {
  /**
   * Also require the original header block, unchanged, below whatever headers a retriever put on
   * top (Received, Return-Path, Delivered-To, X-Envelope-To, ...). Default true.
   */
  readonly checkHeaders?: boolean;
  /** Subdirectories to read. Default new and cur. */
  readonly subdirs?: readonly string[];
}

const MESSAGE_ID = /^message-id:[ \t]*(<[^>\r\n]*>)/im;

/** Splits a (CRLF→LF normalised) message at its first empty line. */
function split(data: string): { header: string; body: string } | null {
  if (data.startsWith('\n')) return { header: '', body: data.slice(1) };
  const i = data.indexOf('\n\n');
  if (i < 0) return null;
  return { header: data.slice(0, i + 1), body: data.slice(i + 2) };
}

/** Checks one retrieved message (any line ends) against the expected entries by Message-ID. */
export function checkMessage(
  raw: Buffer,
  expected: ReadonlyMap<string, readonly ManifestEntry[]>,
  checkHeaders = true,
): { messageId: string; entry?: ManifestEntry; reason?: string } {
  const text = raw.toString('latin1').replaceAll('\r\n', '\n');
  const parts = split(text);
  if (!parts) return { messageId: '?', reason: 'no empty line after the header' };
  const messageId = MESSAGE_ID.exec(parts.header)?.[1] ?? '?';
  const candidates = expected.get(messageId);
  if (!candidates) return { messageId, reason: 'unexpected Message-ID' };
  const entry = candidates[0]!;
  if (sha256(Buffer.from(parts.body, 'latin1')) !== entry.bodySha256) return { messageId, entry, reason: 'body differs' };
  if (checkHeaders) {
    const first = `${entry.firstHeaderLine}\n`;
    const start = parts.header.startsWith(first) ? 0 : parts.header.indexOf(`\n${first}`) + 1;
    if (start === 0 && !parts.header.startsWith(first)) return { messageId, entry, reason: 'original first header line not found' };
    if (sha256(Buffer.from(parts.header.slice(start), 'latin1')) !== entry.headerSha256) return { messageId, entry, reason: 'original header block differs' };
  }
  return { messageId, entry };
}

/**
 * Compares a Maildir with what was generated: by Message-ID, body sha256 (CRLF normalised) and,
 * unless disabled, the original header block. Files starting with '.' and non-files are skipped.
 */
export async function verifyMaildir(
  dir: string,
  expected: readonly ManifestEntry[],
  options: VerifyOptions = {},
): Promise<VerifyResult> {
  const byId = new Map<string, ManifestEntry[]>();
  for (const entry of expected) {
    const list = byId.get(entry.messageId);
    if (list) list.push(entry);
    else byId.set(entry.messageId, [entry]);
  }
  const remaining = new Map<string, number>();
  for (const [id, list] of byId) remaining.set(id, list.length);
  const extra: string[] = [];
  const mismatched: Mismatch[] = [];
  let found = 0;
  for (const sub of options.subdirs ?? ['new', 'cur']) {
    let entries;
    try {
      entries = await readdir(join(dir, sub), { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    for (const dirent of entries) {
      if (!dirent.isFile() || dirent.name.startsWith('.')) continue;
      const file = join(sub, dirent.name);
      found++;
      const result = checkMessage(await readFile(join(dir, file)), byId, options.checkHeaders ?? true);
      const left = remaining.get(result.messageId);
      if (left === undefined || left === 0) {
        extra.push(file);
        continue;
      }
      remaining.set(result.messageId, left - 1);
      if (result.reason) mismatched.push({ messageId: result.messageId, file, reason: result.reason });
    }
  }
  const missing: string[] = [];
  for (const [id, left] of remaining) for (let i = 0; i < left; i++) missing.push(id);
  return { ok: missing.length === 0 && extra.length === 0 && mismatched.length === 0, found, missing, extra, mismatched };
}
