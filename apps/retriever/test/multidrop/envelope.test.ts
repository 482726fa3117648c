/** splitHeader, readEnvelope and stripEnvelopeFields: recovering the envelope from the header. */
import { describe, expect, it } from 'vitest';
import { readEnvelope, splitHeader, stripEnvelopeFields } from '../../src/multidrop/index.ts';
import { DOMAIN_WIDE, asText, message } from './fixtures.ts';

const envelopeOf = (lines: readonly string[], header: string, eol = '\r\n') => readEnvelope(splitHeader(message(lines, eol)).fields, header);
const stripped = (lines: readonly string[], header: string, eol = '\r\n') => {
  const raw = message(lines, eol);
  return asText(stripEnvelopeFields(raw, splitHeader(raw).fields, header));
};

describe('splitHeader', () => {
  it('splits at the first empty line and gives byte ranges that cover each field with its continuation lines', () => {
    const raw = message(DOMAIN_WIDE);
    const { header, body, fields } = splitHeader(raw);
    expect(asText(body)).toBe('Hello team,\r\nthe figures are attached.\r\n');
    expect(asText(header).endsWith('Message-ID: <20260302.1@partner.org>\r\n')).toBe(true);
    const folded = fields[2]!;
    expect(folded.name).toBe('X-Real-To');
    expect(folded.value).toBe('bob@example.com, carol@example.com');
    expect(asText(raw.subarray(folded.start, folded.end))).toBe('X-Real-To: bob@example.com,\r\n carol@example.com\r\n');
  });

  it('handles LF-only messages', () => {
    const { body, fields } = splitHeader(message(['To: a@example.com', 'Subject: hi', '\tthere', '', 'body'], '\n'));
    expect(fields.map((f) => [f.name, f.value])).toEqual([
      ['To', 'a@example.com'],
      ['Subject', 'hi\tthere'],
    ]);
    expect(asText(body)).toBe('body');
  });

  it('takes the whole message as header when there is no empty line', () => {
    const raw = message(['To: a@example.com', 'Subject: no body']);
    const { header, body, fields } = splitHeader(raw);
    expect(header.byteLength).toBe(raw.byteLength);
    expect(body.byteLength).toBe(0);
    expect(fields.at(-1)!.end).toBe(raw.byteLength);
  });

  it('measures offsets in bytes even with UTF-8 in the header', () => {
    const raw = message(['Subject: Grüße aus Köln', 'X-Real-To: anna@example.com', '', 'x']);
    const field = splitHeader(raw).fields[1]!;
    expect(asText(raw.subarray(field.start, field.end))).toBe('X-Real-To: anna@example.com\r\n');
    expect(splitHeader(raw).fields[0]!.value).toBe('Grüße aus Köln');
  });

  it('skips lines that are not fields (mbox From line, garbage) without losing their bytes', () => {
    const { fields } = splitHeader(message(['From sender@partner.org Mon Mar  2 10:00:00 2026', 'To: a@example.com', 'garbage line', '', '']));
    expect(fields.map((f) => f.name)).toEqual(['To']);
  });
});

describe('readEnvelope', () => {
  it('reads every occurrence of the envelope header, several addresses each, folded lines included', () => {
    expect(envelopeOf(DOMAIN_WIDE, 'X-Real-To').recipients).toEqual(['alice@example.com', 'bob@example.com', 'carol@example.com']);
  });

  it('unfolds LF + WSP continuations as well', () => {
    const lines = ['Envelope-To: alice@example.com,', '\tbob@example.com', 'Subject: x', '', 'x'];
    expect(envelopeOf(lines, 'Envelope-To', '\n').recipients).toEqual(['alice@example.com', 'bob@example.com']);
  });

  it('matches the header name case-insensitively, a trailing colon in the setting tolerated', () => {
    const lines = ['delivered-to: alice@example.com', 'DELIVERED-TO: bob@example.com', '', 'x'];
    expect(envelopeOf(lines, 'Delivered-To').recipients).toEqual(['alice@example.com', 'bob@example.com']);
    expect(envelopeOf(lines, ' delivered-to: ').recipients).toEqual(['alice@example.com', 'bob@example.com']);
  });

  it('reads bracket-only and bare values, and skips empty occurrences', () => {
    const lines = ['X-Original-To: <alice@example.com>', 'X-Original-To:', 'X-Original-To: bob@example.com', '', 'x'];
    expect(envelopeOf(lines, 'X-Original-To').recipients).toEqual(['alice@example.com', 'bob@example.com']);
  });

  it('deduplicates recipients across occurrences', () => {
    const lines = ['X-Rcpt-To: alice@example.com', 'X-Rcpt-To: <alice@EXAMPLE.COM>', '', 'x'];
    expect(envelopeOf(lines, 'X-Rcpt-To').recipients).toEqual(['alice@example.com']);
  });

  it('has no recipients when the envelope header is missing', () => {
    expect(envelopeOf(['To: alice@example.com', '', 'x'], 'X-Real-To').recipients).toEqual([]);
  });

  it("'*' reads To, Cc and Bcc, every occurrence, Bcc-only recipients included", () => {
    const lines = ['From: s@partner.org', 'To: "Doe, John" <john@example.com>', 'Cc: team: a@example.com;', 'Bcc: secret@example.com', 'Cc: b@example.com', 'X-Real-To: ignored@example.com', '', 'x'];
    expect(envelopeOf(lines, '*').recipients).toEqual(['john@example.com', 'a@example.com', 'secret@example.com', 'b@example.com']);
    expect(envelopeOf(['To: undisclosed-recipients:;', 'Bcc: only@example.com', '', 'x'], '*').recipients).toEqual(['only@example.com']);
  });

  it('takes the sender from Return-Path: an address, or empty for <>', () => {
    expect(envelopeOf(DOMAIN_WIDE, 'X-Real-To').sender).toBe('sender@partner.org');
    expect(envelopeOf(['Return-Path: <>', '', 'x'], 'X-Real-To').sender).toBe('');
    expect(envelopeOf(['Return-Path: < > (bounce)', '', 'x'], 'X-Real-To').sender).toBe('');
    expect(envelopeOf(['Return-Path: bare@Partner.ORG', '', 'x'], 'X-Real-To').sender).toBe('bare@partner.org');
    expect(envelopeOf(['To: a@example.com', '', 'x'], 'X-Real-To').sender).toBeNull();
  });

  it('reads the Message-ID', () => {
    expect(envelopeOf(DOMAIN_WIDE, 'X-Real-To').messageId).toBe('<20260302.1@partner.org>');
    expect(envelopeOf(['message-id:', ' <folded@partner.org> (comment)', '', 'x'], '*').messageId).toBe('<folded@partner.org>');
    expect(envelopeOf(['Message-ID:', '', 'x'], '*').messageId).toBeNull();
    expect(envelopeOf(['Subject: none', '', 'x'], '*').messageId).toBeNull();
  });
});

describe('stripEnvelopeFields', () => {
  it('removes every occurrence of the envelope header and Return-Path, leaving every other byte', () => {
    expect(stripped(DOMAIN_WIDE, 'x-real-to')).toBe(
      [
        'Received: from mx.partner.org by pop.isp.net; Mon, 2 Mar 2026 10:00:00 +0000',
        'From: Sender <sender@partner.org>',
        'To: Team <team@example.com>',
        'Subject: Quarterly figures',
        'Message-ID: <20260302.1@partner.org>',
        '',
        'Hello team,',
        'the figures are attached.',
        '',
      ].join('\r\n'),
    );
  });

  it('works on LF-only messages, fields at the very end of the header included', () => {
    const lines = ['Subject: x', 'Delivered-To: a@example.com', '\tb@example.com', '', 'body  ', 'Delivered-To: in the body stays'];
    expect(stripped(lines, 'Delivered-To', '\n')).toBe('Subject: x\n\nbody  \nDelivered-To: in the body stays');
  });

  it('works on messages without a body, even without a final line ending', () => {
    expect(stripped(['Subject: x', 'Return-Path: <s@partner.org>', 'X-Real-To: a@example.com'], 'X-Real-To')).toBe('Subject: x\r\n');
    expect(stripped(['X-Real-To: a@example.com', 'Subject: x', '', ''], 'X-Real-To')).toBe('Subject: x\r\n\r\n');
  });

  it("'*' keeps To and Cc but removes Bcc and Return-Path", () => {
    const lines = ['Return-Path: <>', 'To: a@example.com', 'Bcc: secret@example.com,', ' other@example.com', 'Cc: b@example.com', '', 'x'];
    expect(stripped(lines, '*')).toBe('To: a@example.com\r\nCc: b@example.com\r\n\r\nx');
  });

  it('returns the message unchanged when there is nothing to remove', () => {
    const lines = ['To: a@example.com', '', 'Return-Path: <not@a.header>'];
    expect(stripped(lines, 'X-Real-To')).toBe(lines.join('\r\n'));
  });
});
