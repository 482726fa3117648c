/** The little MIME (RFC 2045/2046) that adding a note needs. */

export interface ContentType {
  /** Lower-cased. */
  readonly type: string;
  readonly subtype: string;
  /** Parameter names lower-cased; values as written (a boundary is case-sensitive). */
  readonly params: ReadonlyMap<string, string>;
}

/** RFC 2045 §5.2: no Content-Type means text/plain; charset=us-ascii. */
export const DEFAULT_CONTENT_TYPE: ContentType = { type: 'text', subtype: 'plain', params: new Map() };

const TYPE_SUBTYPE = /^\s*([!#$%&'*+\-.^_`|~0-9a-z]+)\s*\/\s*([!#$%&'*+\-.^_`|~0-9a-z]+)\s*/i;
const PARAMETER = /^;\s*([^\s=;]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;]*))\s*/;

/** null when the value is not `type/subtype *(; name=value)` (comments dropped first). */
export function parseContentType(value: string): ContentType | null {
  const head = TYPE_SUBTYPE.exec(stripComments(value));
  if (!head) return null;
  const params = new Map<string, string>();
  let rest = stripComments(value).slice(head[0].length);
  while (rest.startsWith(';')) {
    const param = PARAMETER.exec(rest);
    if (!param) break; // a malformed trailing parameter does not hide the ones before it
    params.set(param[1]!.toLowerCase(), param[2] !== undefined ? param[2].replace(/\\(.)/g, '$1') : param[3]!);
    rest = rest.slice(param[0].length);
  }
  return { type: head[1]!.toLowerCase(), subtype: head[2]!.toLowerCase(), params };
}

/** Removes (comments) outside quoted strings. */
function stripComments(value: string): string {
  let out = '';
  let depth = 0;
  let quoted = false;
  for (let at = 0; at < value.length; at++) {
    const char = value[at]!;
    if (char === '\\' && (quoted || depth > 0)) {
      if (depth === 0) out += char + (value[at + 1] ?? '');
      at++;
    } else if (depth === 0 && char === '"') {
      quoted = !quoted;
      out += char;
    } else if (!quoted && char === '(') depth++;
    else if (!quoted && depth > 0 && char === ')') depth--;
    else if (depth === 0) out += char;
  }
  return out;
}

export const isAscii = (text: string) => /^[\x00-\x7f]*$/.test(text);

/** RFC 2045 §6.7: lines of at most 76 chars, soft breaks `=`, '=' and non-printables as =XX. */
export function encodeQuotedPrintable(text: string, eol: string): string {
  return text.split('\n').map((line) => encodeQuotedPrintableLine(Buffer.from(line, 'utf8'), eol)).join(eol);
}

function encodeQuotedPrintableLine(bytes: Uint8Array, eol: string): string {
  let out = '';
  let width = 0;
  for (const [index, byte] of bytes.entries()) {
    const whitespaceAtEnd = (byte === 0x20 || byte === 0x09) && index === bytes.length - 1; // rule 3
    const literal = ((byte >= 0x21 && byte <= 0x7e && byte !== 0x3d) || byte === 0x20 || byte === 0x09) && !whitespaceAtEnd;
    const piece = literal ? String.fromCharCode(byte) : `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    if (width + piece.length > 75) {
      out += `=${eol}`;
      width = 0;
    }
    out += piece;
    width += piece.length;
  }
  return out;
}

/** The decoded bytes, or null unless the text is clean base64 (only whitespace besides). */
export function decodeBase64Strictly(encoded: string): Buffer | null {
  const compact = encoded.replace(/[ \t\r\n]+/g, '');
  if (compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) return null;
  return Buffer.from(compact, 'base64');
}

/** RFC 2045 §6.8: encoded lines of 76 characters, each ended with the message's line ending. */
export function encodeBase64Lines(bytes: Uint8Array, eol: string): string {
  const encoded = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  return (encoded.match(/.{1,76}/g) ?? []).map((line) => line + eol).join('');
}
