/**
 * ldapts, with its ASN.1 and URL dependencies, takes ~30 ms to load: the first LDAP connection
 * loads it, so a node whose Directory is the users file never pays for it at start-up.
 */
import type * as Ldapts from 'ldapts';

export type LdaptsModule = typeof Ldapts;

let loading: Promise<LdaptsModule> | undefined;
let loaded: LdaptsModule | undefined;

export function loadLdapts(): Promise<LdaptsModule> {
  loading ??= import('ldapts').then((module) => (loaded = module));
  return loading;
}

interface LdaptsErrors {
  InvalidCredentialsError: Ldapts.InvalidCredentialsError;
  NoSuchObjectError: Ldapts.NoSuchObjectError;
  ResultCodeError: Ldapts.ResultCodeError;
  SizeLimitExceededError: Ldapts.SizeLimitExceededError;
}

/** Whether `error` is one of ldapts's errors; nothing is before a connection has loaded ldapts. */
export function isLdaptsError<K extends keyof LdaptsErrors>(error: unknown, name: K): error is LdaptsErrors[K] {
  return loaded !== undefined && error instanceof (loaded[name] as abstract new (...args: never[]) => unknown);
}
