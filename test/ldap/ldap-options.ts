/** LdapDirectory options pointing at a harness slapd, shaped like the documented example config. */
import type { LdapDirectoryOptions } from '@mailnode/directory';
import { PEOPLE_DN, SUFFIX } from '../harness/ldap-fixture.ts';
import type { Slapd } from '../harness/slapd.ts';

export const GROUP_FILTER = '(&(|(objectClass=groupOfNames)(objectClass=nisMailAlias))(cn=%u))';

export function ldapOptions(slapd: Slapd, overrides: Partial<LdapDirectoryOptions> = {}): LdapDirectoryOptions {
  return {
    urls: [slapd.url],
    starttls: false,
    tls: {},
    bindDn: slapd.serviceDn,
    bindPassword: slapd.servicePassword,
    connectTimeoutMs: 2000,
    timeoutMs: 2000,
    poolSize: 2,
    base: PEOPLE_DN,
    scope: 'sub',
    userFilter: '(&(objectClass=inetOrgPerson)(uid=%u))',
    attributes: { login: 'uid', mail: 'mail', mailbox: 'mailMessageStore', password: 'userPassword' },
    auth: 'bind',
    aliases: { attributes: ['mailLocalAddress'], base: SUFFIX, groupFilter: GROUP_FILTER, memberAttributes: ['member', 'rfc822MailMember'] },
    localDomains: ['example.org'],
    positiveTtlMs: 60_000,
    negativeTtlMs: 10_000,
    cacheSize: 1000,
    verifyCacheSize: 100,
    ...overrides,
  };
}
