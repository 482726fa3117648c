/**
 * Last resort for a delivery note: a header field, when the body's structure is not understood
 * well enough to show the note in it. Folded to 78-character lines (RFC 5322 §2.1.1, §2.2.3);
 * non-ASCII text goes into RFC 2047 encoded-words.
 */
import { lineEndingOf, splitHeader } from './header-block.ts';
import { isAscii } from './mime.ts';

export const NOTE_HEADER = 'X-Mailnode-Delivery-Note';
const LINE_WIDTH = 78;
/** Keeps every line under RFC 5322's 998-octet limit even for an unbreakable word. */
const LONGEST_WORD = 900;
/** 45 octets → 60 base64 chars, + 12 for `=?UTF-8?B??=` = 72, under the 75 limit (RFC 2047 §2). */
const ENCODED_WORD_OCTETS = 45;

export function addNoteHeader(message: Uint8Array, note: string): Uint8Array {
  const eol = lineEndingOf(message);
  const field = Buffer.from(foldField(NOTE_HEADER, note.replace(/\s+/g, ' ').trim(), eol), 'utf8');
  const headerEnd = headerEndOf(message);
  const needsLineEnding = headerEnd > 0 && message[headerEnd - 1] !== 0x0a;
  const before = message.subarray(0, headerEnd);
  return Buffer.concat([before, needsLineEnding ? Buffer.from(eol) : Buffer.alloc(0), field, message.subarray(headerEnd)]);
}

/** Where a new field goes: at the end of the header block, before the empty line. */
function headerEndOf(message: Uint8Array): number {
  try {
    return splitHeader(message).header.byteLength;
  } catch {
    return 0;
  }
}

/**
 * `Name: words` folded before a word when the line would exceed 78 characters (even before the
 * first word: the value may start with FWS); ends with eol.
 */
export function foldField(name: string, text: string, eol: string): string {
  const words = isAscii(text) ? asciiWords(text) : encodedWords(text);
  let line = `${name}:`;
  const lines: string[] = [];
  for (const word of words) {
    if (line.length + 1 + word.length > LINE_WIDTH && line !== '') {
      lines.push(line);
      line = '';
    }
    line += ` ${word}`;
  }
  lines.push(line);
  return lines.join(eol) + eol;
}

function asciiWords(text: string): string[] {
  return text.split(' ').filter((w) => w !== '').flatMap((word) => word.match(new RegExp(`.{1,${LONGEST_WORD}}`, 'g')) ?? []);
}

/** Whitespace between adjacent encoded-words is dropped when decoding (RFC 2047 §6.2), so the
 * text can be cut anywhere between characters. */
function encodedWords(text: string): string[] {
  const words: string[] = [];
  let chunk = '';
  for (const char of text) {
    if (Buffer.byteLength(chunk + char, 'utf8') > ENCODED_WORD_OCTETS) {
      words.push(encodedWord(chunk));
      chunk = '';
    }
    chunk += char;
  }
  if (chunk !== '') words.push(encodedWord(chunk));
  return words;
}

const encodedWord = (text: string) => `=?UTF-8?B?${Buffer.from(text, 'utf8').toString('base64')}?=`;
