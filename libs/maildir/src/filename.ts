import { randomFillSync } from 'node:crypto';

/** What a Maildir file name tells, for our names and for any foreign one. */
export interface ParsedMaildirName {
  /** Everything before the first ',' or ':' — the part that never changes while the message lives. */
  readonly unique: string;
  /** `S=`: octets on disk, when the name carries it. */
  readonly size?: number;
  /** `W=`: octets with CRLF line endings, when the name carries it. */
  readonly wireSize?: number;
  /** Flags of a `:2,<flags>` info part. */
  readonly flags?: string;
  /** Whole info part after ':' (any version). */
  readonly info?: string;
}

/**
 * Host part of a unique name. The spec escapes '/' and ':'; ',' is escaped too so the
 * unique part (text before the first ',') always covers the whole host.
 */
export function encodeHost(host: string): string {
  return host.replace(/[/:,]/g, (c) => (c === '/' ? '\\057' : c === ':' ? '\\072' : '\\054'));
}

let counter = 0;
/** process.pid asks the kernel each time; it cannot change while we run. */
const PID = process.pid;
/** Random bytes for the R field, drawn from a pool: one getrandom call per 256 names, not one each. */
const randomPool = Buffer.alloc(1024);
let randomLeft = 0;

function randomHex4(): string {
  if (randomLeft < 4) {
    randomFillSync(randomPool);
    randomLeft = randomPool.length;
  }
  randomLeft -= 4;
  return randomPool.toString('hex', randomLeft, randomLeft + 4);
}

/** `<sec>.M<usec>P<pid>Q<counter>R<random>.<host>`: time, process and counter make it unique, the random part guards pid reuse within one microsecond. */
export function newUniqueName(encodedHost: string): string {
  const totalMicros = Math.floor((performance.timeOrigin + performance.now()) * 1000);
  const seconds = Math.floor(totalMicros / 1_000_000);
  const micros = totalMicros - seconds * 1_000_000;
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  return `${seconds}.M${micros}P${PID}Q${counter}R${randomHex4()}.${encodedHost}`;
}

/** Name in new/: unique part plus the sizes POP3 needs without a stat. */
export function newFileName(unique: string, size: number, wireSize: number): string {
  return `${unique},S=${size},W=${wireSize}`;
}

/** Name in cur/: base name plus the version-2 info part with flags sorted. */
export function curFileName(base: string, flags = ''): string {
  return `${base}:2,${[...flags].sort().join('')}`;
}

export function parseMaildirName(name: string): ParsedMaildirName {
  const colon = name.indexOf(':');
  const base = colon < 0 ? name : name.slice(0, colon);
  const comma = base.indexOf(',');
  const unique = comma < 0 ? base : base.slice(0, comma);
  let size: number | undefined;
  let wireSize: number | undefined;
  if (comma >= 0) {
    for (const field of base.slice(comma + 1).split(',')) {
      if (field.startsWith('S=')) size = parseCount(field.slice(2)) ?? size;
      else if (field.startsWith('W=')) wireSize = parseCount(field.slice(2)) ?? wireSize;
    }
  }
  const parsed: { -readonly [K in keyof ParsedMaildirName]: ParsedMaildirName[K] } = { unique };
  if (size !== undefined) parsed.size = size;
  if (wireSize !== undefined) parsed.wireSize = wireSize;
  if (colon >= 0) {
    const info = name.slice(colon + 1);
    parsed.info = info;
    if (info.startsWith('2,')) parsed.flags = info.slice(2);
  }
  return parsed;
}

/**
 * Rewrites a base name (no info part) to carry exactly one `S=` and one `W=`, keeping any
 * other `,X=` fields a foreign deliverer put there.
 */
export function withSizes(base: string, size: number, wireSize: number): string {
  const fields = base.split(',');
  const kept = fields.slice(1).filter((f) => !f.startsWith('S=') && !f.startsWith('W='));
  return [fields[0], ...kept, `S=${size}`, `W=${wireSize}`].join(',');
}

function parseCount(text: string): number | undefined {
  if (!/^\d{1,15}$/.test(text)) return undefined;
  return Number(text);
}

/** Delivery time encoded in a unique part: leading seconds, then microseconds of an `M<usec>` field. */
export interface DeliveryTime {
  readonly seconds: number;
  readonly micros: number;
}

export function deliveryTime(unique: string): DeliveryTime {
  const lead = /^\d+/.exec(unique);
  const seconds = lead ? Number(lead[0]) : Number.POSITIVE_INFINITY;
  let micros = 0;
  if (lead && unique.charCodeAt(lead[0].length) === 0x2e /* . */) {
    const rest = unique.slice(lead[0].length + 1);
    const dot = rest.indexOf('.');
    const m = /M(\d+)/.exec(dot < 0 ? rest : rest.slice(0, dot));
    if (m) micros = Number(m[1]);
  }
  return { seconds, micros };
}
