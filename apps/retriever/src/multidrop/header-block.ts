/**
 * Splits a raw message into its header block and body, and lists the header fields with their
 * byte ranges so that fields can be removed while every other byte stays identical.
 */

export interface HeaderField {
  /** Field name as written (case kept; compare case-insensitively, RFC 5322 §1.2.2). */
  readonly name: string;
  /** Unfolded value (RFC 5322 §2.2.3: line breaks before WSP removed), trimmed, decoded as UTF-8. */
  readonly value: string;
  /** Byte offset of the field's first byte within the message (= within the header block). */
  readonly start: number;
  /** Byte offset just past the field's last line ending (continuation lines included). */
  readonly end: number;
}

export interface SplitMessage {
  /** Bytes before the empty line that ends the header (the last field's line ending included). */
  readonly header: Uint8Array;
  /** Bytes after the empty line; empty when there is no empty line. */
  readonly body: Uint8Array;
  readonly fields: HeaderField[];
}

/** RFC 5322 §3.6.8 field name (printable ASCII but colon), obs-optional allows WSP before the colon. */
const FIELD_START = /^([\x21-\x39\x3b-\x7e]+)[ \t]*:/;
const utf8 = new TextDecoder('utf-8');

interface Line {
  readonly start: number;
  /** Just past the line ending (or the end of input). */
  readonly end: number;
  /** The line without its CRLF / LF. */
  readonly text: string;
}

/**
 * The header block ends at the first empty line (CRLF or LF). Without one, the whole message is
 * header and the body is empty. Lines that are neither fields nor continuations (an mbox
 * `From ` line, garbage) belong to no field.
 */
export function splitHeader(message: Uint8Array): SplitMessage {
  // latin1 maps each byte to one char, so string indexes are byte offsets.
  const text = Buffer.from(message.buffer, message.byteOffset, message.byteLength).toString('latin1');
  const fields: HeaderField[] = [];
  let open: { name: string; start: number; end: number } | null = null;
  const close = () => {
    if (open) fields.push(finishField(message, open.name, open.start, open.end));
    open = null;
  };
  for (const line of linesOf(text)) {
    if (line.text === '') {
      close();
      return { header: message.subarray(0, line.start), body: message.subarray(line.end), fields };
    }
    if (line.text[0] === ' ' || line.text[0] === '\t') {
      if (open) open.end = line.end;
      continue;
    }
    close();
    const name = FIELD_START.exec(line.text)?.[1];
    if (name !== undefined) open = { name, start: line.start, end: line.end };
  }
  close();
  return { header: message.subarray(0), body: message.subarray(message.byteLength), fields };
}

function* linesOf(text: string): Generator<Line> {
  let start = 0;
  while (start < text.length) {
    const newline = text.indexOf('\n', start);
    const end = newline === -1 ? text.length : newline + 1;
    const contentEnd = newline === -1 ? end : newline > start && text[newline - 1] === '\r' ? newline - 1 : newline;
    yield { start, end, text: text.slice(start, contentEnd) };
    start = end;
  }
}

function finishField(message: Uint8Array, name: string, start: number, end: number): HeaderField {
  const raw = utf8.decode(message.subarray(start, end));
  const afterColon = raw.slice(raw.indexOf(':') + 1);
  const value = afterColon.replace(/\r?\n(?=[ \t])/g, '').replace(/\r?\n$/, '').trim();
  return { name, value, start, end };
}

/** The line ending a message uses, judged by its first line: CRLF, else LF. */
export function lineEndingOf(message: Uint8Array): '\r\n' | '\n' {
  const newline = message.indexOf(0x0a);
  return newline > 0 && message[newline - 1] === 0x0d ? '\r\n' : newline === -1 ? '\r\n' : '\n';
}

/** The message with the given fields cut out; every other byte is kept as is. */
export function removeFields(message: Uint8Array, doomed: readonly HeaderField[]): Uint8Array {
  const ranges = [...doomed].sort((a, b) => a.start - b.start);
  const pieces: Uint8Array[] = [];
  let kept = 0;
  for (const field of ranges) {
    if (field.start < kept) continue;
    pieces.push(message.subarray(kept, field.start));
    kept = field.end;
  }
  pieces.push(message.subarray(kept));
  return Buffer.concat(pieces);
}

/** Case-insensitive header name comparison (RFC 5322 §1.2.2). */
export function isNamed(field: HeaderField, name: string): boolean {
  return field.name.toLowerCase() === name.toLowerCase();
}
