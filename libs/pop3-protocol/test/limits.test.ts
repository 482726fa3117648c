import { describe, expect, it } from 'vitest';
import { MAX_COMMAND_LINE, MAX_RESPONSE_LINE, MAX_SASL_LINE } from '../src/index.ts';

describe('limits', () => {
  it('exports the documented defaults', () => {
    expect(MAX_COMMAND_LINE).toBe(512);
    expect(MAX_RESPONSE_LINE).toBe(8192);
    expect(MAX_SASL_LINE).toBe(8192);
  });
});
