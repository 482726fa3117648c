/** The module as the download pipeline will use it: one poll of a domain-wide mailbox. */
import { describe, expect, it } from 'vitest';
import { PollDeduplicator, addDeliveryNote, readEnvelope, routeMessage, splitHeader, stripEnvelopeFields, type RoutingPolicy } from '../../src/multidrop/index.ts';
import { DOMAIN_WIDE, asText, fakeDirectory, message } from './fixtures.ts';

const POLICY: RoutingPolicy = { localDomains: ['example.com'], rewriteDomain: null, defaultAddress: 'caretaker@example.com', onlyKnown: false };

/** What each local user's Maildir would receive, as text. */
async function poll(messages: readonly Uint8Array[], envelopeHeader: string, policy: RoutingPolicy) {
  const resolve = fakeDirectory({ users: ['alice', 'bob', 'caretaker', 'postmaster'] });
  const seen = new PollDeduplicator();
  const mailboxes: Record<string, string[]> = {};
  const deliver = (user: string, bytes: Uint8Array) => (mailboxes[user] ??= []).push(asText(bytes));
  for (const raw of messages) {
    const { fields } = splitHeader(raw);
    const envelope = readEnvelope(fields, envelopeHeader);
    const decision = await routeMessage(envelope, policy, resolve);
    const clean = stripEnvelopeFields(raw, fields, envelopeHeader);
    for (const user of decision.deliveries.keys()) {
      if (seen.has(envelope.messageId, user)) continue;
      deliver(user, clean);
      seen.remember(envelope.messageId, user);
    }
    for (const user of decision.defaultUsers) deliver(user, decision.note === null ? clean : addDeliveryNote(clean, decision.note));
    if (decision.dud) deliver('(duds)', raw);
  }
  return mailboxes;
}

describe('a poll of a domain-wide mailbox', () => {
  it('delivers by X-Real-To, strips the envelope, notes the failures for the default address', async () => {
    const mailboxes = await poll([message(DOMAIN_WIDE)], 'X-Real-To', POLICY);
    expect(Object.keys(mailboxes)).toEqual(['alice', 'bob', 'caretaker']);
    expect(mailboxes.alice![0]).not.toMatch(/X-Real-To|Return-Path/);
    expect(mailboxes.alice![0]).toBe(mailboxes.bob![0]);
    expect(mailboxes.caretaker![0]).toContain('\r\n\r\n[mailnode] This copy went to the default address because\r\n');
    expect(mailboxes.caretaker![0]).toContain('  carol@example.com (no such local user or alias)\r\n\r\nHello team,');
  });

  it("'*' mode: three copies of one message to three users end up once in each mailbox", async () => {
    const copy = message(['From: s@partner.org', 'To: alice@example.com, bob@example.com, stranger@partner.org', 'Message-ID: <team@partner.org>', '', 'hi']);
    const mailboxes = await poll([copy, copy, copy], '*', { ...POLICY, onlyKnown: true, defaultAddress: null });
    expect(Object.fromEntries(Object.entries(mailboxes).map(([user, mail]) => [user, mail.length]))).toEqual({ alice: 1, bob: 1 });
  });

  it('saves a message nobody can take to the duds', async () => {
    const mailboxes = await poll([message(['X-Real-To: nobody@example.com', '', 'x'])], 'X-Real-To', { ...POLICY, defaultAddress: 'missing@example.com' });
    expect(mailboxes).toEqual({ '(duds)': ['X-Real-To: nobody@example.com\r\n\r\nx'] });
  });
});
