/**
 * The shared Directory fixture (libs/directory/test/directory-contract.ts) as LDIF for the
 * slapd harness, plus two LDAP-only users:
 *
 *   uid=<name>,ou=people,<suffix>   inetOrgPerson + inetLocalMailRecipient, mail <name>@example.org
 *   cn=team,ou=groups               groupOfNames: alice, bob
 *   cn=staff,ou=groups              groupOfNames: cn=team (nested), dave
 *   cn=loop1|loop2|ext,ou=aliases   nisMailAlias (rfc822MailMember)
 *   postmaster                      mailLocalAddress on alice
 *
 * The container entries (suffix, ou=people/groups/aliases/services) and the service accounts
 * are not part of this LDIF: the harness adds them (BASE_ENTRIES_LDIF) so that a custom LDIF
 * gets them too.
 */
import { createHash } from 'node:crypto';
import { DIRECTORY_FIXTURE, type FixtureUser } from '../../libs/directory/test/directory-contract.ts';

export const SUFFIX = 'dc=example,dc=org';
export const MAIL_DOMAIN = 'example.org';
export const PEOPLE_DN = `ou=people,${SUFFIX}`;
export const GROUPS_DN = `ou=groups,${SUFFIX}`;
export const ALIASES_DN = `ou=aliases,${SUFFIX}`;
export const SERVICES_DN = `ou=services,${SUFFIX}`;
export const ADMIN_DN = `cn=admin,${SUFFIX}`;
export const ADMIN_PASSWORD = 'admin-secret';
/** May read userPassword. */
export const SERVICE_DN = `cn=mailnode,${SERVICES_DN}`;
export const SERVICE_PASSWORD = 'mailnode-secret';
/** May search and read everything except userPassword. */
export const LIMITED_DN = `cn=limited,${SERVICES_DN}`;
export const LIMITED_PASSWORD = 'limited-secret';
export const TEAM_GROUP_DN = `cn=team,${GROUPS_DN}`;
export const STAFF_GROUP_DN = `cn=staff,${GROUPS_DN}`;

/** DN of a person entry. */
export function userDn(name: string, suffix = SUFFIX): string {
  return `uid=${name},ou=people,${suffix}`;
}

export interface LdapExtraUser {
  readonly name: string;
  /** What a client types. */
  readonly password: string;
  /** The userPassword value as stored in LDAP. */
  readonly storedSecret: string;
  /** Object classes besides inetOrgPerson + inetLocalMailRecipient. */
  readonly extraObjectClasses: readonly string[];
  readonly mailMessageStore?: string;
}

/** A fixed salt keeps the LDIF deterministic. */
const FRANK_SALT = Buffer.from('mailnode', 'latin1');

/** OpenLDAP's {SSHA}: base64(SHA1(password + salt) + salt). */
export function sshaSecret(password: string, salt: Buffer): string {
  const digest = createHash('sha1').update(password, 'utf8').update(salt).digest();
  return `{SSHA}${Buffer.concat([digest, salt]).toString('base64')}`;
}

/** Users that exist only in the LDAP fixture (schemes and attributes the files backend lacks). */
export const LDAP_EXTRA_USERS: readonly LdapExtraUser[] = [
  { name: 'frank', password: 'pw-frank', storedSecret: sshaSecret('pw-frank', FRANK_SALT), extraObjectClasses: [] },
  {
    name: 'grace',
    password: 'pw-grace',
    storedSecret: 'pw-grace',
    extraObjectClasses: ['mailnodeMailbox'],
    mailMessageStore: `${MAIL_DOMAIN}/grace`,
  },
];

export interface LdapPassword {
  /** The userPassword value. */
  readonly stored: string;
  /** Whether slapd itself can verify it (simple bind as the user works). */
  readonly bindable: boolean;
}

/**
 * The userPassword value for a fixture user's Dovecot-style secret, or null for no password.
 * slapd knows {CRYPT} (glibc crypt(3), so $6$ works) and, with the argon2 module, {ARGON2};
 * a value without a scheme prefix is cleartext. It has no {CRAM-MD5} scheme: such a value is
 * stored as-is for the Directory to verify, and a simple bind with it fails.
 */
export function ldapPassword(user: FixtureUser): LdapPassword | null {
  const secret = user.storedSecret;
  if (secret === null) return null;
  if (secret.startsWith('{SHA512-CRYPT}')) return { stored: `{CRYPT}${secret.slice('{SHA512-CRYPT}'.length)}`, bindable: true };
  if (secret.startsWith('{ARGON2ID}')) return { stored: `{ARGON2}${secret.slice('{ARGON2ID}'.length)}`, bindable: true };
  if (secret.startsWith('{CRAM-MD5}')) return { stored: secret, bindable: false };
  if (secret.startsWith('{')) throw new Error(`no LDAP mapping for the scheme of ${user.name}'s secret`);
  return { stored: secret, bindable: true };
}

/** Every user whose password slapd can check by a simple bind (DN, password). */
export function bindableUsers(suffix = SUFFIX): { name: string; dn: string; password: string }[] {
  const fixture = DIRECTORY_FIXTURE.users
    .filter((u) => u.password !== null && ldapPassword(u)?.bindable === true)
    .map((u) => ({ name: u.name, password: u.password! }));
  return [...fixture, ...LDAP_EXTRA_USERS.map((u) => ({ name: u.name, password: u.password }))].map((u) => ({ ...u, dn: userDn(u.name, suffix) }));
}

/** SAFE-STRING of RFC 2849; anything else goes base64. */
const SAFE_VALUE = /^(?:[\x01-\x09\x0b\x0c\x0e-\x1f\x21-\x39\x3b\x3d-\x7f][\x01-\x09\x0b\x0c\x0e-\x7f]*)?$/;

/** One `attr: value` line; base64 (`attr:: `) when the value is not a safe string, or always when asked. */
export function ldifLine(attribute: string, value: string, forceBase64 = false): string {
  if (forceBase64 || !SAFE_VALUE.test(value) || value.endsWith(' ')) return `${attribute}:: ${Buffer.from(value, 'utf8').toString('base64')}\n`;
  return `${attribute}: ${value}\n`;
}

/** One LDIF record (attribute order kept), ending with a blank line. */
export function ldifEntry(dn: string, attributes: readonly (readonly [string, string])[]): string {
  // userPassword always goes base64: schemes and secrets may start with ':' or '<' or hold bytes > 0x7f.
  return ldifLine('dn', dn) + attributes.map(([name, value]) => ldifLine(name, value, name === 'userPassword')).join('') + '\n';
}

function personEntry(
  suffix: string,
  name: string,
  stored: string | null,
  options: { extraObjectClasses?: readonly string[]; mailLocalAddress?: readonly string[]; mailMessageStore?: string } = {},
): string {
  const attributes: [string, string][] = [
    ...['top', 'inetOrgPerson', 'inetLocalMailRecipient', ...(options.extraObjectClasses ?? [])].map((oc): [string, string] => ['objectClass', oc]),
    ['uid', name],
    ['cn', name],
    ['sn', name],
    ['mail', `${name}@${MAIL_DOMAIN}`],
    ...(options.mailLocalAddress ?? []).map((address): [string, string] => ['mailLocalAddress', address]),
  ];
  if (options.mailMessageStore !== undefined) attributes.push(['mailMessageStore', options.mailMessageStore]);
  if (stored !== null) attributes.push(['userPassword', stored]);
  return ldifEntry(userDn(name, suffix), attributes);
}

/** Users, groups and mail aliases of the shared fixture (plus frank and grace) below `suffix`. */
export function directoryFixtureLdif(suffix = SUFFIX): string {
  const people = DIRECTORY_FIXTURE.users.map((user) =>
    personEntry(suffix, user.name, ldapPassword(user)?.stored ?? null, {
      // The fixture's postmaster alias: an extra address of alice rather than an alias entry.
      mailLocalAddress: user.name === 'alice' ? [`postmaster@${MAIL_DOMAIN}`] : [],
    }),
  );
  const extra = LDAP_EXTRA_USERS.map((user) =>
    personEntry(suffix, user.name, user.storedSecret, { extraObjectClasses: user.extraObjectClasses, mailMessageStore: user.mailMessageStore }),
  );
  const group = (cn: string, members: readonly string[]) =>
    ldifEntry(`cn=${cn},ou=groups,${suffix}`, [['objectClass', 'groupOfNames'], ['cn', cn], ...members.map((m): [string, string] => ['member', m])]);
  const alias = (cn: string, recipients: readonly string[]) =>
    ldifEntry(`cn=${cn},ou=aliases,${suffix}`, [
      ['objectClass', 'nisMailAlias'],
      ['cn', cn],
      ...recipients.map((r): [string, string] => ['rfc822MailMember', r]),
    ]);
  return [
    ...people,
    ...extra,
    group('team', [userDn('alice', suffix), userDn('bob', suffix)]),
    // Nested: staff contains the team group.
    group('staff', [`cn=team,ou=groups,${suffix}`, userDn('dave', suffix)]),
    alias('loop1', ['loop2']),
    alias('loop2', ['loop1']),
    alias('ext', ['someone@elsewhere.example']),
  ].join('');
}

/** The suffix entry, the containers and the two service accounts (the harness always loads these). */
export function baseEntriesLdif(suffix = SUFFIX): string {
  const dc = /^dc=([^,]+)/i.exec(suffix)?.[1] ?? 'example';
  const ou = (name: string) => ldifEntry(`ou=${name},${suffix}`, [['objectClass', 'organizationalUnit'], ['ou', name]]);
  const service = (cn: string, password: string) =>
    ldifEntry(`cn=${cn},ou=services,${suffix}`, [
      ['objectClass', 'applicationProcess'],
      ['objectClass', 'simpleSecurityObject'],
      ['cn', cn],
      ['userPassword', password],
    ]);
  return [
    ldifEntry(suffix, [['objectClass', 'dcObject'], ['objectClass', 'organization'], ['dc', dc], ['o', 'mailnode test']]),
    ou('people'),
    ou('groups'),
    ou('aliases'),
    ou('services'),
    service('mailnode', SERVICE_PASSWORD),
    service('limited', LIMITED_PASSWORD),
  ].join('');
}
