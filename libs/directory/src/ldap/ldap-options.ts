/** Settings of the LDAP Directory, as resolved from the `directory: { type: ldap }` config block. */
import type { ConnectionOptions } from 'node:tls';
import type { DirectoryLog } from '../directory-log.ts';

export interface LdapAttributeMap {
  /** The login name (also the mailbox name): e.g. uid. */
  readonly login: string;
  /** The primary mail address; its local part is accepted as an alias of the user. */
  readonly mail?: string;
  /** Mailbox location, relative to the message store root (e.g. `example.org/alice`). */
  readonly mailbox?: string;
  /** The stored password, read in `password` auth mode and for APOP / CRAM-MD5. */
  readonly password: string;
}

export interface LdapAliasOptions {
  /** Attributes of user entries holding extra addresses of that user (mailLocalAddress, mailAlternateAddress). */
  readonly attributes: readonly string[];
  /** Where alias and group entries live; defaults to the user base. */
  readonly base?: string;
  /** Filter for an alias or group named `%u` (the local part), e.g. `(&(objectClass=groupOfNames)(cn=%u))`. */
  readonly groupFilter?: string;
  /** Member attributes of those entries: DNs (member, uniqueMember) or addresses (rfc822MailMember). */
  readonly memberAttributes: readonly string[];
}

export interface LdapDirectoryOptions {
  /** Tried in order until one answers. */
  readonly urls: readonly string[];
  /** Upgrade ldap:// connections with StartTLS before anything else is sent. */
  readonly starttls: boolean;
  readonly tls: ConnectionOptions;
  /** Service account for searches; anonymous when absent. */
  readonly bindDn?: string;
  readonly bindPassword?: string;
  readonly connectTimeoutMs: number;
  /** Per operation; a slower answer counts as an outage. */
  readonly timeoutMs: number;
  readonly poolSize: number;
  readonly base: string;
  readonly scope: 'one' | 'sub';
  /** Must contain `%u`, e.g. `(&(objectClass=inetOrgPerson)(uid=%u))`. */
  readonly userFilter: string;
  readonly attributes: LdapAttributeMap;
  /** bind: a password is checked by binding as the user; password: read and verify the password attribute. */
  readonly auth: 'bind' | 'password';
  readonly aliases: LdapAliasOptions;
  /** Local domains; empty means every domain is local (as with an empty domains file). */
  readonly localDomains: readonly string[];
  /** Lookups (and successful password binds) are remembered this long. */
  readonly positiveTtlMs: number;
  /** "No such user" is remembered this long. */
  readonly negativeTtlMs: number;
  readonly cacheSize: number;
  /** Successful slow-hash verifications remembered (password mode); 0 disables. */
  readonly verifyCacheSize: number;
  readonly log?: DirectoryLog;
}
