/**
 * Status lines and small multi-line responses (server side), and the status-line parser
 * (client side). Message bodies go through MessageEncoder / MultilineDecoder instead.
 */

/** RFC 2449 / RFC 3206 / RFC 6856 extended response codes the server may send. */
export type ResponseCode = 'AUTH' | 'SYS/TEMP' | 'SYS/PERM' | 'IN-USE' | 'LOGIN-DELAY' | 'UTF8';

const LINE_BREAK = /[\r\n]/;
const LINE_BREAKS = /[\r\n]/g;

/**
 * Reply text may echo client input (a user name, a bad argument); a CR or LF in it would let
 * the client forge extra response lines, so they become spaces.
 */
function oneLine(text: string): string {
  return LINE_BREAK.test(text) ? text.replace(LINE_BREAKS, ' ') : text;
}

export function okLine(text?: string): string {
  return text ? `+OK ${oneLine(text)}\r\n` : '+OK\r\n';
}

export function errLine(text: string, code?: ResponseCode): string {
  const body = oneLine(text);
  const sep = body ? ' ' : '';
  return code ? `-ERR [${code}]${sep}${body}\r\n` : `-ERR${sep}${body}\r\n`;
}

/**
 * A complete positive multi-line response: `+OK first`, the lines dot-stuffed, then `.`.
 * `first` is the status text after "+OK" (as for okLine).
 */
export function multiLine(first: string, lines: Iterable<string>): string {
  let out = okLine(first);
  for (const line of lines) {
    const l = oneLine(line);
    out += l.charCodeAt(0) === 0x2e ? `.${l}\r\n` : `${l}\r\n`;
  }
  return out + '.\r\n';
}

/** A SASL server challenge (RFC 5034): `+ ` then base64 (possibly empty). */
export function continuation(base64: string): string {
  return `+ ${oneLine(base64)}\r\n`;
}

export type StatusLine =
  | { ok: boolean; code?: string; text: string }
  | { continuation: true; text: string };

// RFC 2449 resp-code: "[" resp-level *("/" resp-level) "]", rchar excludes "/" and "]".
const RESP_CODE = /^\[([\x20-\x2e\x30-\x5c\x5e-\x7e]+(?:\/[\x20-\x2e\x30-\x5c\x5e-\x7e]+)*)\]/;

function withCode(ok: boolean, text: string): { ok: boolean; code?: string; text: string } {
  const m = RESP_CODE.exec(text);
  if (!m) return { ok, text };
  const after = text.slice(m[0].length);
  return { ok, code: (m[1] as string).toUpperCase(), text: after.charCodeAt(0) === 0x20 ? after.slice(1) : after };
}

/**
 * Client side: classify a server line (CRLF already stripped; a trailing CR/LF is tolerated).
 * Status indicators are matched case-insensitively because some old servers send "+ok".
 * Returns null for anything that is not a POP3 status line.
 */
export function parseStatusLine(line: string): StatusLine | null {
  let s = line;
  if (s.endsWith('\n')) s = s.slice(0, -1);
  if (s.endsWith('\r')) s = s.slice(0, -1);

  if (s.charCodeAt(0) === 0x2b /* + */) {
    if (s.length === 1) return { continuation: true, text: '' };
    if (s.charCodeAt(1) === 0x20) return { continuation: true, text: s.slice(2) };
    if (s.length >= 3 && s.slice(1, 3).toUpperCase() === 'OK') return status(true, s, 3);
    return null;
  }
  if (s.charCodeAt(0) === 0x2d /* - */ && s.length >= 4 && s.slice(1, 4).toUpperCase() === 'ERR') {
    return status(false, s, 4);
  }
  return null;
}

/** Text after the indicator must be absent or start with a space ("+OKAY" is not a status line). */
function status(ok: boolean, s: string, at: number): { ok: boolean; code?: string; text: string } | null {
  if (s.length === at) return { ok, text: '' };
  const c = s.charCodeAt(at);
  if (c !== 0x20 && c !== 0x09) return null;
  return withCode(ok, s.slice(at + 1));
}
