/** Small realistic messages and a stand-in Directory for the multidrop tests. */
import type { Resolve } from '../../src/multidrop/index.ts';

/** Joins lines with the given line ending; a message is written as its lines. */
export const message = (lines: readonly string[], eol = '\r\n'): Uint8Array => Buffer.from(lines.join(eol), 'utf8');
export const asText = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8');

/** A mailbox at the ISP that collects all mail for example.com; the provider adds X-Real-To. */
export const DOMAIN_WIDE = [
  'Return-Path: <sender@partner.org>',
  'X-Real-To: alice@example.com',
  'X-Real-To: bob@example.com,',
  ' carol@example.com',
  'Received: from mx.partner.org by pop.isp.net; Mon, 2 Mar 2026 10:00:00 +0000',
  'From: Sender <sender@partner.org>',
  'To: Team <team@example.com>',
  'Subject: Quarterly figures',
  'Message-ID: <20260302.1@partner.org>',
  '',
  'Hello team,',
  'the figures are attached.',
  '',
];

/**
 * Mimics Directory.expandAlias: the local part of a local-domain address (or a bare name) is
 * looked up as an alias, then as a user; aliases may forward to external addresses.
 */
export function fakeDirectory(options: { users: string[]; aliases?: Record<string, string[]>; domains?: string[] }): Resolve & { calls: string[] } {
  const calls: string[] = [];
  const domains = options.domains ?? [];
  const resolve = async (address: string): Promise<string[]> => {
    calls.push(address);
    const lower = address.toLowerCase();
    const at = lower.lastIndexOf('@');
    if (at !== -1 && domains.length > 0 && !domains.includes(lower.slice(at + 1))) return [];
    const name = at === -1 ? lower : lower.slice(0, at);
    const targets = options.aliases?.[name];
    if (targets) return targets;
    return options.users.includes(name) ? [name] : [];
  };
  return Object.assign(resolve, { calls });
}

export interface MimePart {
  readonly header: string;
  readonly body: string;
}

/**
 * An independent, deliberately naive multipart reader for checking results: top-level boundary
 * from the Content-Type, parts split at delimiter lines, each part split at its first empty line.
 */
export function readMultipart(raw: string): { header: string; preamble: string; parts: MimePart[]; epilogue: string } {
  const { header, body } = splitAtEmptyLine(raw);
  const boundary = /boundary="?([^";\r\n]+)"?/i.exec(header.replace(/\r?\n[ \t]/g, ' '))?.[1];
  if (!boundary) throw new Error('no boundary');
  const escaped = boundary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const delimiter = new RegExp(`(?:^|\\r?\\n)--${escaped}(?:--)?[ \\t]*(?:\\r?\\n|$)`);
  const segments = body.split(delimiter);
  if (segments.length < 3) throw new Error('no parts');
  return { header, preamble: segments[0]!, parts: segments.slice(1, -1).map(splitAtEmptyLine), epilogue: segments.at(-1)! };
}

export function splitAtEmptyLine(raw: string): MimePart {
  const leading = /^\r?\n/.exec(raw);
  if (leading) return { header: '', body: raw.slice(leading[0].length) };
  const match = /\r?\n\r?\n/.exec(raw);
  if (!match) return { header: raw, body: '' };
  return { header: raw.slice(0, match.index), body: raw.slice(match.index + match[0].length) };
}

/** RFC 2045 §6.7 decoding, for checking what a quoted-printable body says. */
export function decodeQuotedPrintable(encoded: string): string {
  const bytes = encoded.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

/** The value of a header field in a raw header block, unfolded. */
export function headerValue(header: string, name: string): string | undefined {
  const unfolded = header.replace(/\r?\n(?=[ \t])/g, '');
  const line = unfolded.split(/\r?\n/).find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line?.slice(name.length + 1).trim();
}
