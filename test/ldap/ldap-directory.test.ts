/**
 * The LDAP Directory against a real OpenLDAP: the shared contract suite (password-attribute
 * mode, which can verify every fixture secret including {CRAM-MD5}), bind authentication,
 * filter injection, aliases from attributes and nested groups, mailbox locations, and caching.
 */
import { createHash, createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LdapDirectory, type Directory } from '@mailnode/directory';
import { describeDirectoryContract } from '../../libs/directory/test/directory-contract.ts';
import { userDn } from '../harness/ldap-fixture.ts';
import { slapdUnavailableReason, startSlapd, type Slapd } from '../harness/slapd.ts';
import { ldapOptions } from './ldap-options.ts';

const unavailable = slapdUnavailableReason();
if (unavailable && process.env.CI === 'true') {
  describe('LDAP Directory', () => {
    it('has slapd installed in CI', () => {
      throw new Error(unavailable);
    });
  });
}

const TIMESTAMP = '<77.1700000000@mail.example.org>';
const apop = (password: string) => createHash('md5').update(TIMESTAMP + password).digest('hex');
const cram = (password: string) => createHmac('md5', password).update(TIMESTAMP).digest('hex');

describe.skipIf(unavailable !== null)('LDAP Directory on slapd', () => {
  let slapd: Slapd;
  const directories: Directory[] = [];
  const open = (overrides: Parameters<typeof ldapOptions>[1] = {}): LdapDirectory => {
    const directory = new LdapDirectory(ldapOptions(slapd, overrides));
    directories.push(directory);
    return directory;
  };

  beforeAll(async () => {
    slapd = await startSlapd();
  });
  afterAll(async () => {
    await Promise.all(directories.map((directory) => directory.close()));
    await slapd?.dispose();
  });

  describeDirectoryContract('ldap (password attribute)', async () => ({
    directory: open({ auth: 'password' }),
    cleanup: async () => {},
  }));

  describe('bind authentication (the default)', () => {
    let directory: Directory;
    beforeAll(() => {
      directory = open();
    });

    it.each([
      ['alice', 'pw-alice'],
      ['bob', 'pw-bob'],
      ['dave', 'pw-dave'],
      ['frank', 'pw-frank'],
      ['grace', 'pw-grace'],
    ])('lets %s in with the right password only (slapd verifies the stored scheme)', async (name, password) => {
      expect(await directory.authenticate({ mechanism: 'PASSWORD', username: name, password })).toMatchObject({ ok: true, user: { name } });
      expect(await directory.authenticate({ mechanism: 'PASSWORD', username: name, password: `${password}!` })).toEqual({
        ok: false,
        reason: 'bad-credentials',
      });
    });

    it('never sends an empty password (an unauthenticated bind would succeed)', async () => {
      expect(await directory.authenticate({ mechanism: 'PASSWORD', username: 'alice', password: '' })).toEqual({ ok: false, reason: 'bad-credentials' });
      expect(await directory.authenticate({ mechanism: 'PASSWORD', username: 'carol', password: 'anything' })).toEqual({
        ok: false,
        reason: 'bad-credentials',
      });
    });

    it('verifies APOP and CRAM-MD5 from a readable plain userPassword, refuses them cleanly for hashes', async () => {
      expect(await directory.authenticate({ mechanism: 'APOP', username: 'alice', timestamp: TIMESTAMP, digest: apop('pw-alice') })).toMatchObject({ ok: true });
      expect(await directory.authenticate({ mechanism: 'CRAM-MD5', username: 'grace', challenge: TIMESTAMP, digest: cram('pw-grace') })).toMatchObject({
        ok: true,
      });
      expect(await directory.authenticate({ mechanism: 'APOP', username: 'alice', timestamp: TIMESTAMP, digest: apop('nope') })).toEqual({
        ok: false,
        reason: 'bad-credentials',
      });
      expect(await directory.authenticate({ mechanism: 'APOP', username: 'bob', timestamp: TIMESTAMP, digest: apop('pw-bob') })).toEqual({
        ok: false,
        reason: 'mechanism-unavailable',
      });
      expect(await directory.authenticate({ mechanism: 'CRAM-MD5', username: 'frank', challenge: TIMESTAMP, digest: cram('pw-frank') })).toEqual({
        ok: false,
        reason: 'mechanism-unavailable',
      });
    });

    it('reports APOP and CRAM-MD5 unavailable when the service account may not read userPassword', async () => {
      const limited = open({ bindDn: slapd.limitedDn, bindPassword: slapd.limitedPassword });
      expect(await limited.authenticate({ mechanism: 'APOP', username: 'alice', timestamp: TIMESTAMP, digest: apop('pw-alice') })).toEqual({
        ok: false,
        reason: 'mechanism-unavailable',
      });
      expect(await limited.authenticate({ mechanism: 'PASSWORD', username: 'alice', password: 'pw-alice' })).toMatchObject({ ok: true });
    });

    it('accepts SASL EXTERNAL for an existing user only', async () => {
      expect(await directory.authenticate({ mechanism: 'EXTERNAL', username: 'Alice' })).toMatchObject({ ok: true, user: { name: 'alice' } });
      expect(await directory.authenticate({ mechanism: 'EXTERNAL', username: 'mallory' })).toEqual({ ok: false, reason: 'bad-credentials' });
    });

    it('reads the mailbox location attribute', async () => {
      expect(await directory.lookupUser('grace')).toEqual({ name: 'grace', canLogin: true, mailbox: 'example.org/grace' });
      expect(await directory.lookupUser('alice')).toEqual({ name: 'alice', canLogin: true });
    });
  });

  describe('filter injection', () => {
    let directory: Directory;
    beforeAll(() => {
      directory = open();
    });

    it.each(['*', 'a*', '*)(uid=*', ')(uid=*', 'alice)(|(uid=*', 'alice\0', '\0', 'al\\2aice', 'alice)(objectClass=*'])(
      'finds nobody for %j and lets nobody in',
      async (name) => {
        expect(await directory.lookupUser(name)).toBeNull();
        expect(await directory.authenticate({ mechanism: 'PASSWORD', username: name, password: 'pw-alice' })).toEqual({
          ok: false,
          reason: 'bad-credentials',
        });
        expect(await directory.expandAlias(name)).toEqual([]);
      },
    );

    it('treats a filter that matches several entries as nobody', async () => {
      const loose = open({ userFilter: '(|(uid=%u)(objectClass=inetOrgPerson))' });
      expect(await loose.lookupUser('alice')).toBeNull();
    });
  });

  describe('aliases', () => {
    let directory: Directory;
    beforeAll(() => {
      directory = open();
    });

    it('expands nested groups (member DNs) and attribute aliases', async () => {
      expect((await directory.expandAlias('staff@example.org')).sort()).toEqual(['alice', 'bob', 'dave']);
      expect(await directory.expandAlias('postmaster')).toEqual(['alice']);
    });

    it('treats a user\'s own mail address as that user, and cuts loops', async () => {
      expect(await directory.expandAlias('bob@example.org')).toEqual(['bob']);
      expect(await directory.expandAlias('loop1')).toEqual([]);
    });

    it('ignores a member DN whose entry was deleted', async () => {
      await slapd.modify(`dn: cn=ghosts,ou=groups,${slapd.suffix}\nchangetype: add\nobjectClass: groupOfNames\ncn: ghosts\nmember: uid=nobody,ou=people,${slapd.suffix}\nmember: ${userDn('bob')}\n`);
      expect(await directory.expandAlias('ghosts')).toEqual(['bob']);
    });
  });

  describe('caching', () => {
    it('answers from the positive cache, and a password change takes effect after the TTL', async () => {
      const directory = open({ positiveTtlMs: 400, negativeTtlMs: 400, auth: 'password' });
      const login = (password: string) => directory.authenticate({ mechanism: 'PASSWORD', username: 'grace', password });
      expect(await login('pw-grace')).toMatchObject({ ok: true });
      await slapd.modify(`dn: ${userDn('grace')}\nchangetype: modify\nreplace: userPassword\nuserPassword: pw-grace-2\n`);
      // Within the TTL the cached entry may still answer with the old password...
      expect(await login('pw-grace')).toMatchObject({ ok: true });
      await new Promise((resolve) => setTimeout(resolve, 450));
      // ...but never after it.
      expect(await login('pw-grace')).toEqual({ ok: false, reason: 'bad-credentials' });
      expect(await login('pw-grace-2')).toMatchObject({ ok: true });
      await slapd.modify(`dn: ${userDn('grace')}\nchangetype: modify\nreplace: userPassword\nuserPassword: pw-grace\n`);
    });

    it('bind mode: a cached successful bind expires with the positive TTL', async () => {
      const directory = open({ positiveTtlMs: 400 });
      const login = (password: string) => directory.authenticate({ mechanism: 'PASSWORD', username: 'frank', password });
      expect(await login('pw-frank')).toMatchObject({ ok: true });
      await slapd.modify(`dn: ${userDn('frank')}\nchangetype: modify\nreplace: userPassword\nuserPassword: pw-frank-2\n`);
      await new Promise((resolve) => setTimeout(resolve, 450));
      expect(await login('pw-frank')).toEqual({ ok: false, reason: 'bad-credentials' });
      expect(await login('pw-frank-2')).toMatchObject({ ok: true });
    });

    it('remembers an unknown user for the negative TTL only', async () => {
      const directory = open({ negativeTtlMs: 300 });
      expect(await directory.lookupUser('henry')).toBeNull();
      await slapd.modify(
        `dn: uid=henry,ou=people,${slapd.suffix}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: henry\ncn: Henry\nsn: H\nuserPassword: pw-henry\n`,
      );
      expect(await directory.lookupUser('henry')).toBeNull();
      await new Promise((resolve) => setTimeout(resolve, 350));
      expect(await directory.lookupUser('henry')).toMatchObject({ name: 'henry' });
    });
  });
});
