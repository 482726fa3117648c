/**
 * Recomposing the SMTP envelope of a message fetched from a domain-wide mailbox (CommuniGate Pro
 * "Unified Domain-Wide Accounts", POPFetch pf_header, fetchmail multidrop `envelope`).
 */
import { isNamed, removeFields, type HeaderField } from './header-block.ts';
import { parseAddressList } from './address-list.ts';

export { splitHeader, type HeaderField, type SplitMessage } from './header-block.ts';
export { parseAddressList } from './address-list.ts';

export interface Envelope {
  /** Envelope recipients, bare addr-specs, deduplicated, in header order. */
  readonly recipients: string[];
  /** From the first Return-Path: the address, '' for the null sender `<>`, null when absent/unreadable. */
  readonly sender: string | null;
  /** The Message-ID (`<id>` as written), null when absent or empty. */
  readonly messageId: string | null;
}

/** `*`: no envelope header at the provider; guess from To, Cc and Bcc (CommuniGate Pro). */
export const HEADER_ADDRESSES = '*';
const ADDRESS_FIELDS = ['to', 'cc', 'bcc'];

/**
 * Reads every occurrence of the envelope header (name case-insensitive, a trailing colon
 * tolerated), or To/Cc/Bcc for `*`. Each occurrence may hold several addresses.
 */
export function readEnvelope(fields: readonly HeaderField[], envelopeHeader: string): Envelope {
  const names = recipientFieldNames(envelopeHeader);
  const recipients = fields.filter((f) => names.includes(f.name.toLowerCase())).flatMap((f) => parseAddressList(f.value));
  return { recipients: [...new Set(recipients)], sender: readSender(fields), messageId: readMessageId(fields) };
}

/**
 * The message as it will be delivered: without the envelope header (it described the provider's
 * envelope, CommuniGate removes it) and without Return-Path (the final delivery writes a new one,
 * RFC 5321 §4.4). In `*` mode To and Cc are the message's own; Bcc is removed since every local
 * reader would otherwise learn who was blind-copied (RFC 5322 §3.6.3).
 */
export function stripEnvelopeFields(message: Uint8Array, fields: readonly HeaderField[], envelopeHeader: string): Uint8Array {
  const names = isStar(envelopeHeader) ? ['bcc'] : recipientFieldNames(envelopeHeader);
  const doomed = fields.filter((f) => isNamed(f, 'Return-Path') || names.includes(f.name.toLowerCase()));
  return removeFields(message, doomed);
}

function isStar(envelopeHeader: string): boolean {
  return envelopeHeader.trim() === HEADER_ADDRESSES;
}

function recipientFieldNames(envelopeHeader: string): string[] {
  return isStar(envelopeHeader) ? ADDRESS_FIELDS : [envelopeHeader.trim().replace(/:$/, '').trim().toLowerCase()];
}

/** The topmost Return-Path is the one the provider's final delivery wrote. */
function readSender(fields: readonly HeaderField[]): string | null {
  const returnPath = fields.find((f) => isNamed(f, 'Return-Path'));
  if (!returnPath) return null;
  const withoutComments = returnPath.value.replace(/\([^()]*\)/g, '');
  if (/^\s*<\s*>\s*$/.test(withoutComments)) return '';
  return parseAddressList(returnPath.value)[0] ?? null;
}

function readMessageId(fields: readonly HeaderField[]): string | null {
  const field = fields.find((f) => isNamed(f, 'Message-ID'));
  if (!field) return null;
  const bracketed = /<[^<>]*>/.exec(field.value)?.[0];
  const id = (bracketed ?? field.value).replace(/\s+/g, '');
  return id === '' || id === '<>' ? null : id;
}
