/**
 * RFC 5322 §3.4 address lists reduced to their addr-specs. Display names (RFC 2047 encoded or
 * not), comments and group names are dropped; obs forms (§4.4: routes, spaces around dots,
 * missing brackets) are tolerated. Anything unintelligible is skipped, never thrown.
 */

type TokenKind = 'word' | 'quoted' | 'literal' | 'special';
interface Token {
  readonly kind: TokenKind;
  /** word: the atom; quoted: the unescaped content; literal: `[...]`; special: the char. */
  readonly text: string;
}

const SPECIALS = '<>,:;@.';
const DOT_ATOM = /^[^\s"(),.:;<>@[\\\]]+(\.[^\s"(),.:;<>@[\\\]]+)*$/;

/** Bare addr-specs, domain lower-cased, local part as given, deduplicated, in order. */
export function parseAddressList(value: string): string[] {
  const items = splitItems(tokenize(value));
  const lone = items.length === 1 && !items.grouped;
  const found = new Set<string>();
  for (const item of items) {
    const address = addressOf(item, lone);
    if (address !== null) found.add(address);
  }
  return [...found];
}

function tokenize(value: string): Token[] {
  const tokens: Token[] = [];
  let at = 0;
  while (at < value.length) {
    const char = value[at]!;
    if (/\s/.test(char) || char === ')') at++;
    else if (char === '(') at = skipComment(value, at);
    else if (char === '"') at = readQuoted(value, at, tokens);
    else if (char === '[') at = readLiteral(value, at, tokens);
    else if (SPECIALS.includes(char)) {
      tokens.push({ kind: 'special', text: char });
      at++;
    } else at = readWord(value, at, tokens);
  }
  return tokens;
}

/** Comments nest and may hold quoted-pairs (RFC 5322 §3.2.2); an unclosed one runs to the end. */
function skipComment(value: string, at: number): number {
  let depth = 0;
  for (; at < value.length; at++) {
    const char = value[at];
    if (char === '\\') at++;
    else if (char === '(') depth++;
    else if (char === ')' && --depth === 0) return at + 1;
  }
  return at;
}

function readQuoted(value: string, at: number, tokens: Token[]): number {
  let text = '';
  for (at++; at < value.length && value[at] !== '"'; at++) {
    if (value[at] === '\\' && at + 1 < value.length) at++;
    text += value[at];
  }
  tokens.push({ kind: 'quoted', text });
  return at + 1;
}

function readLiteral(value: string, at: number, tokens: Token[]): number {
  const close = value.indexOf(']', at);
  const end = close === -1 ? value.length : close + 1;
  tokens.push({ kind: 'literal', text: value.slice(at, end).replace(/\s+/g, '') });
  return end;
}

function readWord(value: string, at: number, tokens: Token[]): number {
  const start = at;
  while (at < value.length && !/[\s()"[]/.test(value[at]!) && !SPECIALS.includes(value[at]!)) at++;
  tokens.push({ kind: 'word', text: value.slice(start, at) });
  return at;
}

type Items = Token[][] & { grouped?: boolean };

/**
 * Splits at top-level commas; `name:` opens a group (the name is dropped) and `;` closes it.
 * Inside angle brackets a comma or colon belongs to an obs-route (`<@a,@b:user@c>`).
 */
function splitItems(tokens: readonly Token[]): Items {
  const items: Items = [];
  let current: Token[] = [];
  let brackets = 0;
  const flush = () => {
    if (current.length > 0) items.push(current);
    current = [];
  };
  for (const token of tokens) {
    const special = token.kind === 'special' ? token.text : '';
    if (special === '<') brackets++;
    if (special === '>') brackets = Math.max(0, brackets - 1);
    if (brackets === 0 && (special === ',' || special === ';')) flush();
    else if (brackets === 0 && special === ':') {
      items.grouped = true;
      current = [];
    } else current.push(token);
  }
  flush();
  return items;
}

/**
 * The addr-spec of one mailbox: the bracketed part when there is one (its route dropped), else
 * the whole item. `lone`: the value is a single mailbox, so a bare local part (`Delivered-To:
 * john`, sendmail's `X-Real-To: $u`) is accepted; in a longer list a word without `@` is most
 * likely a display name split at an unquoted comma (`Doe, John <j@x>`) and is skipped.
 */
function addressOf(item: readonly Token[], lone: boolean): string | null {
  let spec = item;
  const open = item.findIndex((t) => isSpecial(t, '<'));
  if (open !== -1) {
    const close = item.findIndex((t, i) => i > open && isSpecial(t, '>'));
    spec = item.slice(open + 1, close === -1 ? item.length : close);
    const routeEnd = spec.findLastIndex((t) => isSpecial(t, ':'));
    spec = spec.slice(routeEnd + 1);
  }
  const at = spec.findLastIndex((t) => isSpecial(t, '@'));
  if (at === -1) return lone && spec.length === 1 && spec[0]!.kind === 'word' ? spec[0]!.text : null;
  const local = localPartOf(spec.slice(0, at));
  const domain = domainOf(spec.slice(at + 1));
  return local === null || domain === null ? null : `${local}@${domain}`;
}

/** word *("." word), words being atoms or quoted strings; re-quoted only when it has to be. */
function localPartOf(tokens: readonly Token[]): string | null {
  const words = dottedWords(tokens, ['word', 'quoted']);
  if (words === null) return null;
  const joined = words.join('.');
  if (DOT_ATOM.test(joined)) return joined;
  return `"${joined.replace(/(["\\])/g, '\\$1')}"`;
}

function domainOf(tokens: readonly Token[]): string | null {
  if (tokens.length === 1 && tokens[0]!.kind === 'literal') return tokens[0]!.text.toLowerCase();
  const trimmed = isSpecial(tokens.at(-1), '.') ? tokens.slice(0, -1) : tokens; // FQDN trailing dot
  return dottedWords(trimmed, ['word'])?.join('.').toLowerCase() ?? null;
}

/** The texts of `w.w.w` (alternating word and dot), or null if the tokens are not that shape. */
function dottedWords(tokens: readonly Token[], wordKinds: readonly TokenKind[]): string[] | null {
  if (tokens.length % 2 === 0) return null;
  const words: string[] = [];
  for (const [index, token] of tokens.entries()) {
    const wanted = index % 2 === 0 ? wordKinds.includes(token.kind) : isSpecial(token, '.');
    if (!wanted) return null;
    if (index % 2 === 0) words.push(token.text);
  }
  return words[0] === '' ? null : words;
}

function isSpecial(token: Token | undefined, char: string): boolean {
  return token?.kind === 'special' && token.text === char;
}
