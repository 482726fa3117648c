/**
 * Hostile command streams for the POP3 fuzz test: valid session transcripts, and mutations of
 * them (byte flips, truncation, duplication, random binary, huge arguments, CR/LF variations,
 * NUL bytes, verb soup). Deterministic for a seed (the seed is printed on failure).
 */
import { Rng } from '../harness/mail-generator.ts';

export interface FuzzCase {
  /** Which generator made it (for the summary). */
  readonly kind: string;
  /** Bytes to send after the greeting (and the login, if any). */
  readonly payload: Buffer;
  /** Log in with USER/PASS before sending the payload. */
  readonly loggedIn: boolean;
  /** The payload goes out in this many writes (1..4). */
  readonly pieces: number;
}

const VERBS = ['USER', 'PASS', 'APOP', 'AUTH', 'STLS', 'CAPA', 'QUIT', 'STAT', 'LIST', 'UIDL', 'RETR', 'TOP', 'DELE', 'RSET', 'NOOP', 'XTND', 'LAST', 'RPOP', 'HELO', 'GET', ''];
const ODD_ARGS = ['0', '-1', '1', '2', '99999999999999999999999', '1e3', '0x10', ' ', '\t', '1 2 3 4 5', '*', '..', '.', '%s%n%x', '\u00e9t\u00e9', '\u{1F4E7}', 'PLAIN', 'LOGIN', 'CRAM-MD5', 'EXTERNAL', '='];

/** A valid dialogue, logged in or not; the transaction part uses message numbers 1..messages. */
export function validTranscript(user: string, password: string, messages: number): string[] {
  const plain = Buffer.from(`\0${user}\0${password}`).toString('base64');
  const n = Math.max(1, messages);
  return [
    'CAPA',
    `USER ${user}`,
    `PASS ${password}`,
    'STAT',
    'LIST',
    `LIST ${n}`,
    'UIDL',
    `UIDL 1`,
    'RETR 1',
    `TOP ${n} 3`,
    'NOOP',
    'DELE 2',
    'RSET',
    'CAPA',
    'QUIT',
    // Unauthenticated extras, so mutations reach every verb and SASL.
    `AUTH PLAIN ${plain}`,
    'AUTH LOGIN',
    Buffer.from(user).toString('base64'),
    '*',
    'APOP nobody 0123456789abcdef0123456789abcdef',
  ];
}

function randomBytes(rng: Rng, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = rng.next() & 0xff;
  return out;
}

function crlfVariant(rng: Rng, text: string): string {
  const endings = ['\n', '\r', '\n\r', '\r\r\n', '', '\r\n\r\n', '\r\0\n'];
  return text.replaceAll('\r\n', () => (rng.float() < 0.5 ? '\r\n' : rng.pick(endings)));
}

function soup(rng: Rng): string {
  const lines: string[] = [];
  const count = rng.int(1, 40);
  for (let i = 0; i < count; i++) {
    const verb = rng.pick(VERBS);
    const cased = rng.float() < 0.3 ? verb.toLowerCase() : verb;
    const args = Array.from({ length: rng.int(0, 3) }, () => (rng.float() < 0.5 ? rng.pick(ODD_ARGS) : String(rng.int(-5, 60))));
    lines.push([cased, ...args].join(rng.float() < 0.8 ? ' ' : rng.pick(['  ', '\t', ' \t '])));
  }
  return `${lines.join('\r\n')}\r\n`;
}

/** One fuzz case. `transcript` lines are joined with CRLF before mutating. */
export function makeFuzzCase(rng: Rng, transcript: readonly string[], lineLength: number): FuzzCase {
  const loggedIn = rng.float() < 0.4;
  // Logged-in sessions skip the login part of the transcript (it is already done).
  const lines = loggedIn ? transcript.slice(3) : transcript;
  const start = rng.int(0, lines.length - 1);
  const picked = lines.slice(start, start + rng.int(1, lines.length));
  const base = Buffer.from(`${picked.join('\r\n')}\r\n`, 'utf8');
  const kinds = ['flip', 'truncate', 'duplicate', 'binary', 'huge-arg', 'crlf', 'nul', 'soup', 'splice-binary', 'valid'] as const;
  const kind = rng.pick(kinds);
  let payload: Buffer;
  switch (kind) {
    case 'flip': {
      payload = Buffer.from(base);
      const flips = rng.int(1, Math.max(1, Math.floor(payload.length / 8)));
      for (let i = 0; i < flips; i++) payload[rng.int(0, payload.length - 1)] ^= 1 << rng.int(0, 7);
      break;
    }
    case 'truncate':
      payload = base.subarray(0, rng.int(0, base.length - 1));
      break;
    case 'duplicate': {
      const from = rng.int(0, base.length - 1);
      const slice = base.subarray(from, from + rng.int(1, 64));
      const times = rng.int(2, 300);
      payload = Buffer.concat([base.subarray(0, from), ...Array.from({ length: times }, () => slice), base.subarray(from)]);
      break;
    }
    case 'binary':
      payload = randomBytes(rng, rng.int(1, 8192));
      break;
    case 'huge-arg': {
      // Some just under the limit, some far over it (up to 256 KiB).
      const size = rng.float() < 0.3 ? lineLength - rng.int(6, 12) : rng.int(lineLength, 256 * 1024);
      const verb = rng.pick(['USER', 'PASS', 'APOP', 'AUTH PLAIN', 'LIST', 'RETR', 'TOP 1', 'NOOP']);
      payload = Buffer.concat([base.subarray(0, rng.int(0, base.length)), Buffer.from(`${verb} ${'A'.repeat(Math.max(0, size))}\r\n`)]);
      break;
    }
    case 'crlf':
      payload = Buffer.from(crlfVariant(rng, base.toString('utf8')), 'utf8');
      break;
    case 'nul': {
      const bytes = [...base];
      const count = rng.int(1, 8);
      for (let i = 0; i < count; i++) bytes.splice(rng.int(0, bytes.length), 0, 0);
      payload = Buffer.from(bytes);
      break;
    }
    case 'soup':
      payload = Buffer.from(soup(rng), 'utf8');
      break;
    case 'splice-binary': {
      const at = rng.int(0, base.length);
      payload = Buffer.concat([base.subarray(0, at), randomBytes(rng, rng.int(1, 512)), base.subarray(at)]);
      break;
    }
    case 'valid':
      payload = base;
      break;
  }
  return { kind, payload, loggedIn, pieces: rng.int(1, 4) };
}

/** Splits `payload` into `pieces` parts at random points. */
export function splitPayload(rng: Rng, payload: Buffer, pieces: number): Buffer[] {
  if (pieces <= 1 || payload.length < pieces) return [payload];
  const cuts = Array.from({ length: pieces - 1 }, () => rng.int(1, payload.length - 1)).sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let from = 0;
  for (const cut of cuts) {
    parts.push(payload.subarray(from, cut));
    from = cut;
  }
  parts.push(payload.subarray(from));
  return parts.filter((part) => part.length > 0);
}
