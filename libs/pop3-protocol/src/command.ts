/**
 * A client command line (without CRLF), split into verb and arguments.
 * `rest` is everything after the verb and one separator, untouched: PASS passwords may contain
 * spaces, and SASL initial responses must not be re-joined from tokens.
 */
export type ParsedCommand =
  | { ok: true; verb: string; args: string[]; rest: string }
  | { ok: false; error: 'empty' | 'bad-verb' | 'bad-chars' };

// C0 controls except TAB. CR/LF are already stripped by the line decoder, so any left over
// (or a NUL) means a confused or hostile client. U+FFFD is what the decoder makes of bytes that
// are not UTF-8: such a line is refused, not half-understood (a user name must not be guessed).
const BAD_CHARS = /[\x00-\x08\x0a-\x1f\uFFFD]/;
const VERB = /^[A-Za-z]{1,16}$/;
const SEPARATORS = /[ \t]+/;

function isSeparator(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/**
 * Never throws. Leading spaces/tabs before the verb are tolerated (some clients send them);
 * `rest` is taken relative to the verb, after one space or tab.
 */
export function parseCommand(text: string): ParsedCommand {
  if (BAD_CHARS.test(text)) return { ok: false, error: 'bad-chars' };

  let start = 0;
  const n = text.length;
  while (start < n && isSeparator(text.charCodeAt(start))) start++;
  if (start === n) return { ok: false, error: 'empty' };
  let end = start;
  while (end < n && !isSeparator(text.charCodeAt(end))) end++;

  const verb = text.slice(start, end);
  if (!VERB.test(verb)) return { ok: false, error: 'bad-verb' };

  const rest = end < n ? text.slice(end + 1) : '';
  const args = end < n ? text.slice(end).split(SEPARATORS).filter((t) => t !== '') : [];
  return { ok: true, verb: verb.toUpperCase(), args, rest };
}

const MAX_MESSAGE_NUMBER = 2 ** 31 - 1;
const DIGITS = /^[0-9]+$/;

/**
 * A message number argument (RETR, DELE, LIST, TOP, UIDL): decimal digits only, 1..2^31-1.
 * Leading zeros are tolerated; signs, spaces and anything else give null.
 */
export function parseMessageNumber(arg: string | undefined): number | null {
  if (arg === undefined || !DIGITS.test(arg)) return null;
  let i = 0;
  while (i < arg.length - 1 && arg.charCodeAt(i) === 0x30) i++;
  const digits = arg.slice(i);
  // More than 10 significant digits is certainly out of range; skip Number() on huge strings.
  if (digits.length > 10) return null;
  const value = Number(digits);
  return value >= 1 && value <= MAX_MESSAGE_NUMBER ? value : null;
}
