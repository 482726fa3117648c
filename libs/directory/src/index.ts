/** @mailnode/directory: the Directory contract and the file-backed implementation. */
export { DIRECTORY, DirectoryUnavailableError } from './contract.ts';
export type { AuthResult, Credentials, Directory, DirectoryUser } from './contract.ts';

export { FileDirectory, DEFAULT_RELOAD_CHECK_MS } from './file-directory.ts';
export type { FileDirectoryOptions } from './file-directory.ts';
export type { DirectoryLog } from './directory-log.ts';

export {
  DEFAULT_HASH_SCHEME,
  SUPPORTED_SCHEMES,
  describeSecretProblem,
  hashPassword,
  isKnownScheme,
  plaintextOf,
  splitStoredSecret,
  verifyPassword,
} from './password-schemes.ts';
export type { HashOptions, PasswordScheme, VerifyOptions } from './password-schemes.ts';
export { ARGON2_DEFAULT_PARAMS } from './argon2-scheme.ts';
export type { Argon2Params } from './argon2-scheme.ts';
export { VerifyCache, DEFAULT_VERIFY_CACHE_SIZE } from './verify-cache.ts';

// Backend-neutral pieces a second backend (LDAP) reuses.
export { checkCredentials } from './check-credentials.ts';
export type { StoredAccount } from './check-credentials.ts';
export { expandAddress, MAX_ALIAS_DEPTH } from './alias-expansion.ts';
export type { AliasLookups, ExpansionResult } from './alias-expansion.ts';
export { cramMd5Digest } from './cram-md5.ts';
export { shaCrypt } from './sha-crypt.ts';

// LDAP backend.
export { LdapDirectory } from './ldap/ldap-directory.ts';
export type { LdapAliasOptions, LdapAttributeMap, LdapDirectoryOptions } from './ldap/ldap-options.ts';
export { escapeFilterValue, fillFilter } from './ldap/filter.ts';
export { mailboxLocationProblem } from './ldap/mailbox-location.ts';
