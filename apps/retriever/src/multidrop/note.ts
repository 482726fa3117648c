/**
 * Adds the delivery note at the top of the default address's copy, where a reader sees it
 * (POPFetch: "a paragraph added to the top of the message"):
 * - text/plain (or no Content-Type): the paragraph is prepended to the body, in the body's own
 *   transfer encoding (quoted-printable: the note is QP-encoded; base64: the body is decoded,
 *   the note prepended and the whole re-encoded: simple, and correct whatever the line breaks
 *   of the old encoding were);
 * - multipart/mixed and other multiparts read as mixed (RFC 2046 §5.1.7): a new first
 *   text/plain part is inserted before the first boundary delimiter, after the preamble;
 * - anything else (text/html, multipart/alternative, related, signed, ...): the message becomes
 *   a multipart/mixed of the note and the untouched original entity, because a first part would
 *   be hidden (alternative), become the root (related) or break the structure (signed, report);
 * - not understood (no empty line after the header, unreadable Content-Type, multipart without
 *   its boundary): an `X-Mailnode-Delivery-Note` header field instead. Never throws.
 */
import { createHash } from 'node:crypto';
import { isNamed, lineEndingOf, removeFields, splitHeader, type HeaderField, type SplitMessage } from './header-block.ts';
import { DEFAULT_CONTENT_TYPE, decodeBase64Strictly, encodeBase64Lines, encodeQuotedPrintable, isAscii, parseContentType, type ContentType } from './mime.ts';
import { addNoteHeader } from './note-header.ts';

export { NOTE_HEADER } from './note-header.ts';

/** Multipart subtypes where an extra first part is read like any other part. */
const MIXED_LIKE = new Set(['mixed', 'parallel']);
const KNOWN_NOT_MIXED = new Set(['alternative', 'related', 'signed', 'encrypted', 'report', 'digest']);

interface Parsed {
  readonly message: Uint8Array;
  readonly split: SplitMessage;
  readonly bodyStart: number;
  readonly eol: string;
  /** The note, trailing blank lines dropped, lines joined with LF. */
  readonly note: string;
}

export function addDeliveryNote(message: Uint8Array, note: string): Uint8Array {
  try {
    return insertNote(message, note) ?? addNoteHeader(message, note);
  } catch {
    return addNoteHeader(message, note);
  }
}

function insertNote(message: Uint8Array, note: string): Uint8Array | null {
  const split = splitHeader(message);
  if (split.header.byteLength === message.byteLength) return null; // no empty line: no body to hold it
  const parsed: Parsed = { message, split, bodyStart: message.byteLength - split.body.byteLength, eol: lineEndingOf(message), note: normaliseNote(note) };
  const typeField = split.fields.find((f) => isNamed(f, 'Content-Type'));
  const type = typeField ? parseContentType(typeField.value) : DEFAULT_CONTENT_TYPE;
  if (type === null) return null;
  if (type.type === 'multipart') return intoMultipart(parsed, type);
  if (type.type === 'text' && type.subtype === 'plain') return prependToText(parsed, type) ?? wrapInMixed(parsed);
  return wrapInMixed(parsed);
}

function normaliseNote(note: string): string {
  return note.split(/\r\n|\r|\n/).join('\n').replace(/\n+$/, '');
}

function intoMultipart(parsed: Parsed, type: ContentType): Uint8Array | null {
  const boundary = type.params.get('boundary');
  if (!boundary) return null;
  const delimiterAt = findFirstDelimiter(latin1(parsed.split.body), boundary);
  if (delimiterAt === -1) return null;
  if (MIXED_LIKE.has(type.subtype) || !KNOWN_NOT_MIXED.has(type.subtype)) return insertFirstPart(parsed, boundary, delimiterAt);
  return wrapInMixed(parsed);
}

/** Offset in the body of the first `--boundary` line (RFC 2046 §5.1.1: at line start, LWSP allowed after). */
export function findFirstDelimiter(body: string, boundary: string): number {
  const delimiter = `--${boundary}`;
  for (let at = body.indexOf(delimiter); at !== -1; at = body.indexOf(delimiter, at + 1)) {
    if (at > 0 && body[at - 1] !== '\n') continue;
    const lineEnd = body.indexOf('\n', at);
    const rest = body.slice(at + delimiter.length, lineEnd === -1 ? body.length : lineEnd).replace(/\r$/, '');
    if (/^(--)?[ \t]*$/.test(rest)) return at;
  }
  return -1;
}

/** The note part ends with eol: that line ending is the one RFC 2046 attaches to the next delimiter. */
function insertFirstPart(parsed: Parsed, boundary: string, delimiterAt: number): Uint8Array {
  const { message, bodyStart, eol } = parsed;
  const part = `--${boundary}${eol}${notePart(parsed)}${eol}`;
  const at = bodyStart + delimiterAt;
  return Buffer.concat([message.subarray(0, at), Buffer.from(part, 'utf8'), message.subarray(at)]);
}

/** Headers, empty line and text of the note as a MIME entity (without a final line ending). */
function notePart({ note, eol }: Parsed): string {
  const ascii = isAscii(note);
  return [
    `Content-Type: text/plain; charset=${ascii ? 'us-ascii' : 'utf-8'}`,
    `Content-Transfer-Encoding: ${ascii ? '7bit' : '8bit'}`,
    'Content-Description: mailnode delivery note',
    '',
    ...note.split('\n'),
  ].join(eol);
}

/** null when the note cannot be put in this body as is (charset, encoding): the caller wraps instead. */
function prependToText(parsed: Parsed, type: ContentType): Uint8Array | null {
  const { message, split, bodyStart, eol, note } = parsed;
  const charset = (type.params.get('charset') ?? 'us-ascii').toLowerCase();
  if (!isAscii(note) && charset !== 'utf-8' && charset !== 'utf8') return null;
  const encoding = transferEncodingOf(split.fields);
  const head = message.subarray(0, bodyStart);
  const paragraph = `${note}\n\n`;
  switch (encoding) {
    case '7bit':
    case '8bit':
    case 'binary':
      if (encoding === '7bit' && !isAscii(note)) return null; // 8-bit text would break the 7bit label
      return Buffer.concat([head, Buffer.from(paragraph.split('\n').join(eol), 'utf8'), split.body]);
    case 'quoted-printable':
      return Buffer.concat([head, Buffer.from(encodeQuotedPrintable(paragraph, eol), 'latin1'), split.body]);
    case 'base64':
      return prependToBase64(head, split.body, paragraph, eol);
    default:
      return null;
  }
}

/** The decoded text keeps its own line breaks (canonical CRLF unless it uses bare LF). */
function prependToBase64(head: Uint8Array, body: Uint8Array, paragraph: string, eol: string): Uint8Array | null {
  const decoded = decodeBase64Strictly(latin1(body));
  if (decoded === null) return null;
  const textEol = decoded.includes('\r\n') || !decoded.includes('\n') ? '\r\n' : '\n';
  const content = Buffer.concat([Buffer.from(paragraph.split('\n').join(textEol), 'utf8'), decoded]);
  return Buffer.concat([head, Buffer.from(encodeBase64Lines(content, eol), 'latin1')]);
}

function transferEncodingOf(fields: readonly HeaderField[]): string {
  const field = fields.find((f) => isNamed(f, 'Content-Transfer-Encoding'));
  return field ? field.value.replace(/\([^()]*\)/g, '').trim().toLowerCase() : '7bit';
}

/**
 * multipart/mixed of [note, original entity]: the Content-* fields move, byte for byte, into the
 * second part's header; the original body follows unchanged (the line ending added before the
 * close delimiter belongs to the delimiter, RFC 2046 §5.1.1).
 */
function wrapInMixed(parsed: Parsed): Uint8Array {
  const { message, split, bodyStart, eol } = parsed;
  const contentFields = split.fields.filter((f) => /^content-/i.test(f.name));
  const boundary = freshBoundary(message, split.body);
  const mimeVersion = split.fields.some((f) => isNamed(f, 'MIME-Version')) ? '' : `MIME-Version: 1.0${eol}`;
  const outerFields = `${mimeVersion}Content-Type: multipart/mixed; boundary="${boundary}"${eol}`;
  const noteSection = `${eol}--${boundary}${eol}${notePart(parsed)}${eol}--${boundary}${eol}`;
  return Buffer.concat([
    removeFields(split.header, contentFields),
    Buffer.from(outerFields + noteSection, 'utf8'),
    ...contentFields.map((f) => message.subarray(f.start, f.end)),
    Buffer.from(eol),
    message.subarray(bodyStart),
    Buffer.from(`${eol}--${boundary}--${eol}`),
  ]);
}

/** Derived from the message, so the output is deterministic; checked against the body (RFC 2046 §5.1.1). */
function freshBoundary(message: Uint8Array, body: Uint8Array): string {
  const digest = createHash('sha256').update(message).digest('hex');
  const text = latin1(body);
  let boundary = `mailnode-note-${digest.slice(0, 24)}`;
  for (let n = 1; text.includes(boundary); n++) boundary = `mailnode-note-${digest.slice(0, 24)}-${n}`;
  return boundary;
}

const latin1 = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
