/**
 * Deterministic sample messages for end-to-end tests: the same bytes on every run.
 *
 * Each sample says how it is handed to MaildirStore.deliver(): `crlf: true` means the bytes use
 * CRLF line endings (the store converts them to LF on disk), `crlf: false` means LF bytes stored
 * as they are. On the POP3 wire every message has CRLF line endings and always ends with CRLF
 * (the server adds one to a message without a final line break): wireBytes() is exactly what a
 * client that undoes dot-stuffing (curl) prints, lfBytes() what LF-writing clients (mpop,
 * fetchmail's MDA delivery) store.
 *
 * Every sample has a unique Message-ID (`<sample-NAME@mailnode.test>`), so clients that reorder
 * or rename files can still be matched up.
 */

export interface SampleMessage {
  readonly name: string;
  readonly messageId: string;
  /** The bytes given to deliver(). */
  readonly bytes: Buffer;
  /** Whether `bytes` use CRLF (deliver's `crlf` option). */
  readonly crlf: boolean;
}

/** A small linear congruential generator: deterministic, no dependencies. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state;
  };
}

const WORDS = ['mail', 'node', 'pop3', 'maildir', 'retrieve', 'octet', 'line', 'dot', 'stuff', 'quit', 'uidl', 'server', 'client', 'header', 'body'];

function words(next: () => number, count: number): string {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(WORDS[next() % WORDS.length]!);
  return out.join(' ');
}

function header(name: string, subject: string, extra: string[] = []): string[] {
  return [
    'Return-Path: <sender@example.org>',
    'From: Sample Sender <sender@example.org>',
    'To: alice@localhost',
    `Subject: ${subject}`,
    'Date: Tue, 14 Nov 2023 22:13:20 +0000',
    `Message-ID: <sample-${name}@mailnode.test>`,
    ...extra,
  ];
}

function build(name: string, lines: string[], eol: '\r\n' | '\n', finalNewline = true): SampleMessage {
  const text = lines.join(eol) + (finalNewline ? eol : '');
  return { name, messageId: `<sample-${name}@mailnode.test>`, bytes: Buffer.from(text, 'latin1'), crlf: eol === '\r\n' };
}

/** A few hundred bytes, CRLF. */
function small(): SampleMessage {
  return build('small-crlf', [...header('small-crlf', 'A small message'), '', 'Hello Alice,', '', 'this is a short message.', '-- ', 'Sender'], '\r\n');
}

/** Lines that need dot-stuffing, including one that is only '.', LF endings. */
function dots(): SampleMessage {
  return build(
    'dots-lf',
    [
      ...header('dots-lf', 'Dots at line starts'),
      '',
      '.a line starting with a dot',
      '..two dots',
      '.',
      'the line above is a lone dot; the next one is a dot and a space',
      '. ',
      '...',
      'end.',
      '.',
    ],
    '\n',
  );
}

/** Lines far longer than 998 octets (the servers must not fold them), CRLF. */
function longLines(): SampleMessage {
  const next = prng(7);
  return build(
    'long-lines-crlf',
    [
      ...header('long-lines-crlf', 'Long lines', [`X-Long-Header: ${'h'.repeat(1500)}`]),
      '',
      'x'.repeat(4000),
      words(next, 1200),
      '.' + 'y'.repeat(2500),
      'short',
    ],
    '\r\n',
  );
}

/** 8-bit bytes (Latin-1 0x80..0xFF, no NUL, CR or LF) in the body, LF endings. */
function eightBit(): SampleMessage {
  const high = Array.from({ length: 128 }, (_, i) => String.fromCharCode(0x80 + i)).join('');
  return build(
    'eight-bit-lf',
    [
      ...header('eight-bit-lf', 'Eight-bit body', ['MIME-Version: 1.0', 'Content-Type: text/plain; charset=ISO-8859-1', 'Content-Transfer-Encoding: 8bit']),
      '',
      'Gr\u00fc\u00dfe aus K\u00f6ln, \u00e7a va, \u00f1and\u00fa',
      high,
      high.split('').reverse().join(''),
      'tabs\tand\tcontrol \u0001\u0002\u007f bytes',
    ],
    '\n',
  );
}

/** The last line has no line break, LF endings. */
function noFinalNewline(): SampleMessage {
  return build('no-final-newline-lf', [...header('no-final-newline-lf', 'No final newline'), '', 'first body line', 'last line without a break'], '\n', false);
}

/** Header only: no empty line and no body, CRLF. */
function headerOnly(): SampleMessage {
  return build('header-only-crlf', header('header-only-crlf', 'Header only'), '\r\n');
}

/** About 300 KB (above the 64 KB small-message limit, so the server streams it), LF. */
function large(): SampleMessage {
  const next = prng(42);
  const lines = [...header('large-lf', 'A large message'), ''];
  let size = 0;
  for (let i = 0; size < 300_000; i++) {
    const line = (i % 37 === 0 ? '.' : '') + `${i.toString().padStart(6, '0')} ` + words(next, 1 + (next() % 14));
    lines.push(line);
    size += line.length + 1;
  }
  lines.push('.', 'the end');
  return build('large-lf', lines, '\n');
}

/** About 70 KB (just above the small-message limit) with CRLF and dot lines near chunk borders. */
function mediumCrlf(): SampleMessage {
  const next = prng(99);
  const lines = [...header('medium-crlf', 'A medium message'), ''];
  let size = 0;
  for (let i = 0; size < 70_000; i++) {
    const line = i % 11 === 0 ? '.' : `${i} ${words(next, 8)}`;
    lines.push(line);
    size += line.length + 2;
  }
  return build('medium-crlf', lines, '\r\n');
}

/** All samples, in delivery order. */
export function sampleMessages(): SampleMessage[] {
  return [small(), dots(), longLines(), eightBit(), noFinalNewline(), headerOnly(), mediumCrlf(), large()];
}

export function sampleByName(name: string): SampleMessage {
  const sample = sampleMessages().find((s) => s.name === name);
  if (!sample) throw new Error(`no sample message ${name}`);
  return sample;
}

/** Every line ending becomes LF (CRLF → LF; lone CRs are kept). */
export function toLf(bytes: Buffer): Buffer {
  return Buffer.from(bytes.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
}

/** Every line ending becomes CRLF (bare LF → CRLF). */
export function toCrlf(bytes: Buffer): Buffer {
  return Buffer.from(bytes.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
}

/** What RETR carries after dot-unstuffing: CRLF endings and a final CRLF. */
export function wireBytes(sample: SampleMessage | Buffer): Buffer {
  const crlf = toCrlf(Buffer.isBuffer(sample) ? sample : sample.bytes);
  return crlf.length > 0 && crlf.subarray(-2).toString('latin1') !== '\r\n' ? Buffer.concat([crlf, Buffer.from('\r\n')]) : crlf;
}

/** What an LF-writing client stores: LF endings and a final LF. */
export function lfBytes(sample: SampleMessage | Buffer): Buffer {
  return toLf(wireBytes(sample));
}

/** The size LIST reports: octets with CRLF line endings (as stored, without an added final CRLF). */
export function wireSize(sample: SampleMessage | Buffer): number {
  return toCrlf(Buffer.isBuffer(sample) ? sample : sample.bytes).length;
}

/** The Message-ID header value in a message (LF or CRLF), or undefined. */
export function messageIdOf(bytes: Buffer): string | undefined {
  return /^Message-ID: (<[^>\r\n]+>)\r?$/im.exec(bytes.toString('latin1'))?.[1];
}
