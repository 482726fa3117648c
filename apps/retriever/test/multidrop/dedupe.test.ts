/** PollDeduplicator: the same Message-ID delivered once per user within a poll. */
import { describe, expect, it } from 'vitest';
import { PollDeduplicator } from '../../src/multidrop/index.ts';

describe('PollDeduplicator', () => {
  it('remembers a Message-ID per user', () => {
    const seen = new PollDeduplicator();
    expect(seen.has('<1@partner.org>', 'alice')).toBe(false);
    seen.remember('<1@partner.org>', 'alice');
    expect(seen.has('<1@partner.org>', 'alice')).toBe(true);
    expect(seen.has('<1@partner.org>', 'bob')).toBe(false);
    expect(seen.has('<2@partner.org>', 'alice')).toBe(false);
  });

  it('suppresses the second and third copies of one message sent to three local users', () => {
    const seen = new PollDeduplicator();
    const delivered: string[] = [];
    for (let copy = 0; copy < 3; copy++) {
      for (const user of ['alice', 'bob', 'carol']) {
        if (seen.has('<team@partner.org>', user)) continue;
        delivered.push(user);
        seen.remember('<team@partner.org>', user);
      }
    }
    expect(delivered).toEqual(['alice', 'bob', 'carol']);
  });

  it('never takes a message without Message-ID for a duplicate', () => {
    const seen = new PollDeduplicator();
    for (const missing of [null, '', '  ', '<>']) {
      seen.remember(missing, 'alice');
      expect(seen.has(missing, 'alice')).toBe(false);
    }
  });

  it('ignores whitespace around the id; a new poll starts empty', () => {
    const seen = new PollDeduplicator();
    seen.remember(' <1@partner.org> ', 'alice');
    expect(seen.has('<1@partner.org>', 'alice')).toBe(true);
    expect(new PollDeduplicator().has('<1@partner.org>', 'alice')).toBe(false);
  });
});
