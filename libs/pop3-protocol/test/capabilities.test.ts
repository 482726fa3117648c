import { describe, expect, it } from 'vitest';
import { formatCapa, parseCapa } from '../src/index.ts';

describe('formatCapa', () => {
  it('formats a multi-line capability list', () => {
    expect(formatCapa(['TOP', 'UIDL', 'SASL PLAIN CRAM-MD5', 'RESP-CODES'])).toBe(
      '+OK Capability list follows\r\nTOP\r\nUIDL\r\nSASL PLAIN CRAM-MD5\r\nRESP-CODES\r\n.\r\n',
    );
  });
});

describe('parseCapa', () => {
  it('maps uppercased capability names to their arguments', () => {
    const caps = parseCapa(['TOP', 'sasl PLAIN  CRAM-MD5', 'EXPIRE NEVER', 'Implementation mailnode 0.1', '', '  UIDL  ']);
    expect([...caps.keys()]).toEqual(['TOP', 'SASL', 'EXPIRE', 'IMPLEMENTATION', 'UIDL']);
    expect(caps.get('SASL')).toEqual(['PLAIN', 'CRAM-MD5']);
    expect(caps.get('TOP')).toEqual([]);
    expect(caps.get('IMPLEMENTATION')).toEqual(['mailnode', '0.1']);
  });

  it('keeps the first of repeated capabilities', () => {
    expect(parseCapa(['SASL PLAIN', 'SASL LOGIN']).get('SASL')).toEqual(['PLAIN']);
  });
});
