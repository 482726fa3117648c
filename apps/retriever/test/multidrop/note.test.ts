/** addDeliveryNote: the paragraph at the top of the default copy, whatever the message's structure. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addDeliveryNote } from '../../src/multidrop/index.ts';
import { asText, decodeQuotedPrintable, headerValue, message, readMultipart, splitAtEmptyLine } from './fixtures.ts';

const NOTE = ['[mailnode] This copy went to the default address because', 'not every recipient could be reached.', 'Did not receive it:', '  nobody@example.com (no such local user or alias)'].join('\n');
const noted = (lines: readonly string[], eol = '\r\n', note = NOTE) => asText(addDeliveryNote(message(lines, eol), note));
const HEADER = ['From: Sender <sender@partner.org>', 'To: nobody@example.com', 'Subject: Quarterly figures', 'Message-ID: <1@partner.org>'];

describe('addDeliveryNote: text/plain', () => {
  it('prepends the paragraph and an empty line to a body without Content-Type', () => {
    const result = noted([...HEADER, '', 'Hello,', 'the figures.', '']);
    expect(result).toBe([...HEADER, '', ...NOTE.split('\n'), '', 'Hello,', 'the figures.', ''].join('\r\n'));
  });

  it('keeps LF-only messages LF-only', () => {
    const result = noted([...HEADER, 'Content-Type: text/plain; charset=utf-8', '', 'Hello'], '\n');
    expect(result).not.toContain('\r');
    expect(splitAtEmptyLine(result).body).toBe(`${NOTE}\n\nHello`);
  });

  it('accepts a note with CRLF line endings and trailing newlines', () => {
    const result = noted([...HEADER, '', 'Hello'], '\n', 'line one\r\nline two\r\n\r\n');
    expect(splitAtEmptyLine(result).body).toBe('line one\nline two\n\nHello');
  });

  it('QP-encodes the paragraph into a quoted-printable body', () => {
    const note = 'Not delivered: a=b@example.com and jürgen@example.com';
    const result = noted([...HEADER, 'Content-Type: text/plain; charset="UTF-8"', 'Content-Transfer-Encoding: quoted-printable', '', 'Gr=C3=BC=C3=9Fe'], '\r\n', note);
    const { body } = splitAtEmptyLine(result);
    expect(body).toMatch(/^[\x20-\x7e\r\n]*$/);
    expect(body.split('\r\n').every((line) => line.length <= 76)).toBe(true);
    expect(decodeQuotedPrintable(body)).toBe(`${note}\r\n\r\nGrüße`);
  });

  it('re-encodes a base64 body with the note first, without corrupting the original text', () => {
    const original = 'Hallo Team,\r\ndie Zahlen sind da. Grüße, Jürgen\r\n'.repeat(5);
    const encoded = Buffer.from(original, 'utf8').toString('base64').match(/.{1,72}/g)!;
    const result = noted([...HEADER, 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: base64', '', ...encoded, '']);
    const { header, body } = splitAtEmptyLine(result);
    expect(header).toBe([...HEADER, 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: base64'].join('\r\n'));
    expect(body.split('\r\n').every((line) => line.length <= 76)).toBe(true);
    expect(Buffer.from(body, 'base64').toString('utf8')).toBe(`${NOTE.split('\n').join('\r\n')}\r\n\r\n${original}`);
  });

  it('wraps when the note cannot be written in the body charset (non-ASCII note, ISO-8859-1 body)', () => {
    const raw = Buffer.concat([Buffer.from([...HEADER, 'Content-Type: text/plain; charset=iso-8859-1', 'Content-Transfer-Encoding: 8bit', '', ''].join('\r\n')), Buffer.from([0x47, 0x72, 0xfc, 0xdf, 0x65])]);
    const result = Buffer.from(addDeliveryNote(raw, 'jürgen@example.com did not receive it')).toString('latin1');
    const { parts } = readMultipart(result);
    expect(Buffer.from(parts[0]!.body, 'latin1').toString('utf8')).toBe('jürgen@example.com did not receive it');
    expect(parts[1]!.body).toBe('Gr\xfc\xdfe');
  });
});

describe('addDeliveryNote: bodies it cannot edit in place are wrapped, untouched', () => {
  for (const [what, encoding, body] of [
    ['a damaged base64 body', 'base64', 'SGVsbG8*!\r\n'],
    ['an unknown transfer encoding', 'x-uuencode', 'begin 644 x\r\n'],
  ] as const) {
    it(`for ${what}`, () => {
      const raw = [...HEADER, 'Content-Type: text/plain', `Content-Transfer-Encoding: ${encoding}`, '', body];
      const { parts } = readMultipart(noted(raw));
      expect(parts[0]!.body).toBe(NOTE.split('\n').join('\r\n'));
      expect(parts[1]).toEqual({ header: `Content-Type: text/plain\r\nContent-Transfer-Encoding: ${encoding}`, body });
    });
  }

  it('for multipart/signed, whose signed first part must stay first', () => {
    const signed = [...HEADER, 'Content-Type: multipart/signed; protocol="application/pgp-signature"; micalg=pgp-sha256; boundary="sig"', '', '--sig', 'Content-Type: text/plain', '', 'signed text', '--sig', 'Content-Type: application/pgp-signature', '', 'SIG', '--sig--', ''];
    const outer = readMultipart(noted(signed));
    expect(headerValue(outer.header, 'Content-Type')).toMatch(/^multipart\/mixed/);
    expect(outer.parts[1]!.body).toBe(signed.slice(signed.indexOf('') + 1).join('\r\n'));
  });
});

describe('addDeliveryNote: multipart', () => {
  const MIXED = [
    ...HEADER,
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed;',
    '\tboundary="----=_Part_42"',
    '',
    'This is a multi-part message in MIME format.',
    '------=_Part_42',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Hello team,',
    'the figures are attached.',
    '------=_Part_42',
    'Content-Type: application/pdf; name="q1.pdf"',
    'Content-Transfer-Encoding: base64',
    '',
    'JVBERi0xLjQK',
    '------=_Part_42--',
    'epilogue',
  ];

  it('inserts a new first text/plain part after the preamble; the original parts stay intact', () => {
    const before = readMultipart(MIXED.join('\r\n'));
    const result = noted(MIXED);
    const after = readMultipart(result);
    expect(after.header).toBe(before.header);
    expect(after.preamble).toBe(before.preamble);
    expect(after.parts).toHaveLength(3);
    expect(headerValue(after.parts[0]!.header, 'Content-Type')).toBe('text/plain; charset=us-ascii');
    expect(after.parts[0]!.body).toBe(NOTE.split('\n').join('\r\n'));
    expect(after.parts.slice(1)).toEqual(before.parts);
    expect(after.epilogue).toBe(before.epilogue);
    expect(result.replace(/------=_Part_42\r\nContent-Type: text\/plain; charset=us-ascii[\s\S]*?(?=------=_Part_42)/, '')).toBe(MIXED.join('\r\n'));
  });

  it('inserts before a first delimiter that opens the body, and in LF-only messages', () => {
    const lines = [...HEADER, 'Content-Type: multipart/mixed; boundary=b1', '', '--b1', '', 'part one', '--b1--', ''];
    const result = noted(lines, '\n');
    expect(result).not.toContain('\r');
    const { preamble, parts } = readMultipart(result);
    expect(preamble).toBe('');
    expect(parts.map((p) => p.body)).toEqual([NOTE, 'part one']);
  });

  it('treats an unknown multipart subtype as mixed (RFC 2046 §5.1.7)', () => {
    const lines = [...HEADER, 'Content-Type: multipart/x-custom; boundary=b1', '', '--b1', '', 'part one', '--b1--', ''];
    expect(readMultipart(noted(lines)).parts.map((p) => p.body)).toEqual([NOTE.split('\n').join('\r\n'), 'part one']);
  });

  it('wraps multipart/alternative in a new multipart/mixed so the note is not hidden as an alternative', () => {
    const alternative = [
      ...HEADER,
      'MIME-Version: 1.0',
      'Content-Type: multipart/alternative; boundary="alt"',
      '',
      '--alt',
      'Content-Type: text/plain',
      '',
      'Hi',
      '--alt',
      'Content-Type: text/html',
      '',
      '<p>Hi</p>',
      '--alt--',
      '',
    ];
    const result = noted(alternative);
    const outer = readMultipart(result);
    expect(headerValue(outer.header, 'Content-Type')).toMatch(/^multipart\/mixed; boundary="mailnode-note-[0-9a-f]+"$/);
    expect(outer.header.match(/MIME-Version/g)).toHaveLength(1);
    expect(outer.parts).toHaveLength(2);
    expect(outer.parts[0]!.body).toBe(NOTE.split('\n').join('\r\n'));
    expect(outer.parts[1]!.header).toBe('Content-Type: multipart/alternative; boundary="alt"');
    expect(outer.parts[1]!.body).toBe(alternative.slice(alternative.indexOf('') + 1).join('\r\n'));
    const inner = readMultipart(`${outer.parts[1]!.header}\r\n\r\n${outer.parts[1]!.body}`);
    expect(inner.parts.map((p) => p.body)).toEqual(['Hi', '<p>Hi</p>']);
  });

  it('wraps a text/html message, moving its Content-* fields byte for byte and adding MIME-Version', () => {
    const html = [...HEADER, 'Content-Type: text/html; charset=utf-8', 'Content-Transfer-Encoding: quoted-printable', '', '<p>Hi=21</p>', ''];
    const outer = readMultipart(noted(html));
    expect(headerValue(outer.header, 'MIME-Version')).toBe('1.0');
    expect(headerValue(outer.header, 'Subject')).toBe('Quarterly figures');
    expect(outer.parts[1]).toEqual({ header: 'Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable', body: '<p>Hi=21</p>\r\n' });
  });

  it('gives a deterministic result', () => {
    const html = [...HEADER, 'Content-Type: text/html', '', '<p>Hi</p>'];
    expect(noted(html)).toBe(noted(html));
  });
});

describe('addDeliveryNote: falls back to a header field', () => {
  const fieldOf = (result: string) => {
    const match = /X-Mailnode-Delivery-Note:.*(?:\r?\n[ \t].*)*/.exec(result);
    return match?.[0];
  };

  it('for a multipart without boundary, folded to 78-character lines', () => {
    const result = noted([...HEADER, 'Content-Type: multipart/mixed', '', '--x', '', 'y', '--x--']);
    const field = fieldOf(result)!;
    expect(field.split('\r\n').every((line) => line.length <= 78)).toBe(true);
    expect(field.split('\r\n').slice(1).every((line) => line.startsWith(' '))).toBe(true);
    expect(field.replace(/\r\n /g, ' ')).toBe(`X-Mailnode-Delivery-Note: ${NOTE.replace(/\s+/g, ' ')}`);
    expect(result.endsWith('\r\n\r\n--x\r\n\r\ny\r\n--x--')).toBe(true);
  });

  it('when the multipart boundary never occurs in the body', () => {
    expect(fieldOf(noted([...HEADER, 'Content-Type: multipart/mixed; boundary=zz', '', 'no parts here']))).toBeDefined();
  });

  it('for unparseable input: binary garbage without an empty line', () => {
    const garbage = Uint8Array.from([0x00, 0xff, 0x3a, 0x0d, 0x20, 0x80, 0x0a, 0x0a, 0x0a].slice(0, 6));
    const result = addDeliveryNote(garbage, 'note');
    expect(Buffer.from(result).subarray(0, garbage.length)).toEqual(Buffer.from(garbage));
    expect(asText(result).endsWith('\r\nX-Mailnode-Delivery-Note: note\r\n')).toBe(true);
  });

  it('for a message with no empty line (no body), before nothing but after the last field', () => {
    expect(noted(['Subject: x', 'To: a@example.com'], '\n', 'note')).toBe('Subject: x\nTo: a@example.com\nX-Mailnode-Delivery-Note: note\n');
  });

  it('for an unreadable Content-Type', () => {
    expect(fieldOf(noted([...HEADER, 'Content-Type: garbage', '', 'body']))).toBe(
      [
        'X-Mailnode-Delivery-Note: [mailnode] This copy went to the default address',
        ' because not every recipient could be reached. Did not receive it:',
        ' nobody@example.com (no such local user or alias)',
      ].join('\r\n'),
    );
  });

  it('puts a non-ASCII note into RFC 2047 encoded-words', () => {
    const note = 'jürgen@example.com did not receive it; '.repeat(3);
    const field = fieldOf(noted([...HEADER, 'Content-Type: bogus', '', 'x'], '\r\n', note))!;
    expect(field).toMatch(/^[\x20-\x7e\r\n]*$/);
    expect(field.split('\r\n').every((line) => line.length <= 78)).toBe(true);
    const words = field.match(/=\?UTF-8\?B\?([A-Za-z0-9+/=]+)\?=/g)!;
    expect(words.map((w) => Buffer.from(w.slice(10, -2), 'base64').toString('utf8')).join('')).toBe(note.trim());
  });
});

it('addDeliveryNote never throws and never shrinks the message', () => {
  const piece = fc.constantFrom('Content-Type: multipart/mixed; boundary=b', 'Content-Type: text/plain', 'Content-Transfer-Encoding: base64', '--b', '--b--', '', 'x', ' y', '\r', '=', 'AAAA');
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 12 }), fc.constantFrom('\r\n', '\n'), fc.string({ maxLength: 30 }), (lines, eol, note) => {
      const result = addDeliveryNote(message(lines, eol), note);
      return result instanceof Uint8Array && result.byteLength >= message(lines, eol).byteLength;
    }),
  );
});
