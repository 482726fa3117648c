/** routeMessage: envelope recipients → local users, the default address, or the duds. */
import { describe, expect, it } from 'vitest';
import { routeMessage, type Envelope, type RoutingPolicy } from '../../src/multidrop/index.ts';
import { fakeDirectory } from './fixtures.ts';

const envelope = (...recipients: string[]): Envelope => ({ recipients, sender: 's@partner.org', messageId: '<1@partner.org>' });
const policy = (overrides: Partial<RoutingPolicy> = {}): RoutingPolicy => ({
  localDomains: ['example.com'],
  rewriteDomain: null,
  defaultAddress: 'caretaker@example.com',
  onlyKnown: false,
  ...overrides,
});
const directory = () =>
  fakeDirectory({
    users: ['alice', 'bob', 'carol', 'caretaker', 'postmaster'],
    aliases: { sales: ['alice', 'bob'], info: ['carol', 'info@outsourced.net'], gone: ['gone@elsewhere.org'] },
  });
const deliveriesOf = (decision: { deliveries: ReadonlyMap<string, readonly string[]> }) => Object.fromEntries(decision.deliveries);

describe('routeMessage', () => {
  it('delivers each recipient to its local user, aliases expanded, once per user', async () => {
    const decision = await routeMessage(envelope('alice@example.com', 'sales@example.com', 'carol@EXAMPLE.com'), policy(), directory());
    expect(deliveriesOf(decision)).toEqual({ alice: ['alice@example.com', 'sales@example.com'], bob: ['sales@example.com'], carol: ['carol@EXAMPLE.com'] });
    expect(decision).toMatchObject({ unresolved: [], toDefault: false, defaultUsers: [], note: null, dud: false });
  });

  it('sends the default address one copy, with a note naming who did and did not receive it', async () => {
    const decision = await routeMessage(envelope('alice@example.com', 'nobody@example.com', 'ghost@example.com', 'x@partner.org'), policy(), directory());
    expect(deliveriesOf(decision)).toEqual({ alice: ['alice@example.com'] });
    expect(decision.unresolved).toEqual(['nobody@example.com', 'ghost@example.com', 'x@partner.org']);
    expect(decision.toDefault).toBe(true);
    expect(decision.defaultUsers).toEqual(['caretaker']);
    expect(decision.note).toBe(
      [
        '[mailnode] This copy went to the default address because',
        'not every recipient could be reached.',
        'Received it:',
        '  alice@example.com',
        'Did not receive it:',
        '  nobody@example.com (no such local user or alias)',
        '  ghost@example.com (no such local user or alias)',
        '  x@partner.org (not in a local domain)',
      ].join('\n'),
    );
    expect(decision.dud).toBe(false);
  });

  it('also notes a single failed recipient, since the stripped envelope header was the only trace of it', async () => {
    const decision = await routeMessage(envelope('nobody@example.com'), policy(), directory());
    expect(decision.deliveries.size).toBe(0);
    expect(decision.toDefault).toBe(true);
    expect(decision.note).toContain('nobody@example.com (no such local user or alias)');
    expect(decision.note).not.toContain('Received it:');
  });

  it('falls back to postmaster when there is no default address', async () => {
    const decision = await routeMessage(envelope('nobody@example.com'), policy({ defaultAddress: null }), directory());
    expect(decision.defaultUsers).toEqual(['postmaster']);
    expect(decision.toDefault).toBe(true);
  });

  it('sends a message without any envelope recipient to the default address', async () => {
    const decision = await routeMessage(envelope(), policy(), directory());
    expect(decision.toDefault).toBe(true);
    expect(decision.note).toContain('no envelope recipient was found');
  });

  it('is a dud when nothing resolves and the default address resolves to nobody', async () => {
    const resolve = directory();
    const decision = await routeMessage(envelope('nobody@example.com'), policy({ defaultAddress: 'missing@example.com' }), resolve);
    expect(decision).toMatchObject({ toDefault: false, defaultUsers: [], note: null, dud: true, unresolved: ['nobody@example.com'] });
    expect(resolve.calls).toEqual(['nobody@example.com', 'missing@example.com']);
  });

  it('is not a dud when some recipient got it, even if the default address resolves to nobody', async () => {
    const decision = await routeMessage(envelope('alice@example.com', 'nobody@example.com'), policy({ defaultAddress: 'missing' }), directory());
    expect(decision).toMatchObject({ toDefault: false, dud: false, unresolved: ['nobody@example.com'] });
  });

  it('re-addresses a non-local domain to the rewrite domain before routing (pf_domain)', async () => {
    const resolve = directory();
    const decision = await routeMessage(envelope('Alice@isp.net', 'bob@example.com'), policy({ rewriteDomain: 'example.com' }), resolve);
    expect(deliveriesOf(decision)).toEqual({ alice: ['Alice@isp.net'], bob: ['bob@example.com'] });
    expect(resolve.calls).toEqual(['Alice@example.com', 'bob@example.com']);
  });

  it('treats every domain as local when localDomains is empty', async () => {
    const decision = await routeMessage(envelope('alice@anything.org'), policy({ localDomains: [] }), directory());
    expect(deliveriesOf(decision)).toEqual({ alice: ['alice@anything.org'] });
  });

  it('matches local domains case-insensitively and ignores a trailing dot', async () => {
    const decision = await routeMessage(envelope('alice@example.com'), policy({ localDomains: ['Example.COM.'] }), directory());
    expect(deliveriesOf(decision)).toEqual({ alice: ['alice@example.com'] });
  });

  it('routes a bare local part (sendmail X-Real-To: $u) as local', async () => {
    const decision = await routeMessage(envelope('bob'), policy(), directory());
    expect(deliveriesOf(decision)).toEqual({ bob: ['bob'] });
  });

  it('does not relay external forwards: reported as undelivered and sent to the default', async () => {
    const decision = await routeMessage(envelope('info@example.com', 'gone@example.com'), policy(), directory());
    expect(deliveriesOf(decision)).toEqual({ carol: ['info@example.com'] });
    expect(decision.unresolved).toEqual(['info@outsourced.net', 'gone@example.com']);
    expect(decision.toDefault).toBe(true);
    expect(decision.note).toContain('info@outsourced.net (forward from info@example.com; mailnode does not relay mail to other hosts)');
    expect(decision.note).toContain('gone@example.com (forwards to gone@elsewhere.org; mailnode does not relay mail to other hosts)');
  });

  describe("onlyKnown ('*' mode)", () => {
    const starPolicy = policy({ onlyKnown: true, defaultAddress: null });

    it('silently ignores strangers in To/Cc when some local user accepted the message', async () => {
      const decision = await routeMessage(envelope('partner@partner.org', 'alice@example.com', 'nobody@example.com', 'gone@example.com'), starPolicy, directory());
      expect(deliveriesOf(decision)).toEqual({ alice: ['alice@example.com'] });
      expect(decision).toMatchObject({ toDefault: false, note: null, dud: false });
      expect(decision.unresolved).toEqual(['partner@partner.org', 'nobody@example.com', 'gone@example.com']);
    });

    it('does not rewrite strangers into local users', async () => {
      const decision = await routeMessage(envelope('alice@partner.org'), { ...starPolicy, rewriteDomain: 'example.com' }, directory());
      expect(decision.deliveries.size).toBe(0);
    });

    it('sends a message no address accepted to postmaster (CommuniGate Pro)', async () => {
      const decision = await routeMessage(envelope('partner@partner.org'), starPolicy, directory());
      expect(decision).toMatchObject({ toDefault: true, defaultUsers: ['postmaster'], dud: false });
      expect(decision.note).toContain('none of its To, Cc or Bcc addresses is a local user or alias');
    });

    it('is a dud when there are no recipients and postmaster resolves to nobody', async () => {
      const noPostmaster = fakeDirectory({ users: ['alice'] });
      const decision = await routeMessage(envelope(), starPolicy, noPostmaster);
      expect(decision).toMatchObject({ toDefault: false, dud: true });
    });
  });

  it('lets a throwing resolver (directory down) propagate', async () => {
    const down = async () => {
      throw new Error('directory unavailable');
    };
    await expect(routeMessage(envelope('alice@example.com'), policy(), down)).rejects.toThrow('directory unavailable');
    let calls = 0;
    const downForDefault = async (address: string) => {
      if (++calls > 1) throw new Error('directory unavailable');
      return address.startsWith('nobody') ? [] : ['x'];
    };
    await expect(routeMessage(envelope('nobody@example.com'), policy(), downForDefault)).rejects.toThrow('directory unavailable');
  });
});
