/**
 * The Directory on an LDAP server (OpenLDAP, 389-DS, Active Directory): users found with a
 * filter template, passwords checked by binding as the user or by reading the password
 * attribute, aliases from user attributes and from group / mail-alias entries.
 *
 * Nothing the server says is trusted blindly: a login name that matches several entries is
 * nobody, login names must be usable mailbox names, mailbox locations must stay inside the
 * store. An unreachable or slow server is DirectoryUnavailableError ([SYS/TEMP]), never a
 * wrong password.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { AuthResult, Credentials, Directory, DirectoryUser } from '../contract.ts';
import { expandAddress } from '../alias-expansion.ts';
import { checkCredentials, type StoredAccount } from '../check-credentials.ts';
import { SILENT_LOG, type DirectoryLog } from '../directory-log.ts';
import { localPartProblem, normaliseDomain } from '../names.ts';
import { VerifyCache } from '../verify-cache.ts';
import { LdapConnectionPool, type LdapEntry } from './connection-pool.ts';
import { anyOf, anyValueFilter, fillFilter } from './filter.ts';
import type { LdapDirectoryOptions } from './ldap-options.ts';
import { mailboxLocationProblem } from './mailbox-location.ts';
import { TtlCache } from './ttl-cache.ts';

interface LdapAccount extends StoredAccount {
  readonly dn: string;
}

/** Longest login name looked up at all; longer input is nobody, without a query. */
const MAX_LOOKUP_LENGTH = 256;

const BAD_CREDENTIALS: AuthResult = { ok: false, reason: 'bad-credentials' };

export class LdapDirectory implements Directory {
  private readonly pool: LdapConnectionPool;
  private readonly log: DirectoryLog;
  private readonly accounts: TtlCache<LdapAccount | null>;
  private readonly aliasTargetCache: TtlCache<readonly string[] | null>;
  /** Successful binds, keyed by DN and a hash of the password: warm logins without a round trip. */
  private readonly binds: TtlCache<true>;
  private readonly bindCacheKey = randomBytes(32);
  private readonly verifyCache: VerifyCache;
  private readonly localDomains: ReadonlySet<string>;

  constructor(private readonly options: LdapDirectoryOptions) {
    this.log = options.log ?? SILENT_LOG;
    this.pool = new LdapConnectionPool({
      urls: options.urls,
      starttls: options.starttls,
      tls: options.tls,
      bindDn: options.bindDn,
      bindPassword: options.bindPassword,
      connectTimeoutMs: options.connectTimeoutMs,
      timeoutMs: options.timeoutMs,
      size: options.poolSize,
      log: this.log,
    });
    this.accounts = new TtlCache(options.cacheSize);
    this.aliasTargetCache = new TtlCache(options.cacheSize);
    this.binds = new TtlCache(options.cacheSize);
    this.verifyCache = new VerifyCache(options.verifyCacheSize);
    this.localDomains = new Set(options.localDomains.map(normaliseDomain));
  }

  async lookupUser(name: string): Promise<DirectoryUser | null> {
    return (await this.account(name))?.user ?? null;
  }

  async authenticate(credentials: Credentials): Promise<AuthResult> {
    const account = await this.account(credentials.username);
    if (this.options.auth === 'password') return checkCredentials(account, credentials, this.verifyCache);
    if (credentials.mechanism === 'APOP' || credentials.mechanism === 'CRAM-MD5') {
      // These need the secret itself; in bind mode it is often hidden from the service account.
      if (account && account.secret === null) return { ok: false, reason: 'mechanism-unavailable' };
      return checkCredentials(account, credentials, this.verifyCache);
    }
    if (!account) return BAD_CREDENTIALS;
    if (credentials.mechanism === 'EXTERNAL') return { ok: true, user: account.user };
    return (await this.bindAs(account.dn, credentials.password)) ? { ok: true, user: account.user } : BAD_CREDENTIALS;
  }

  async expandAlias(address: string): Promise<string[]> {
    const { recipients, truncatedAt } = await expandAddress(address, {
      aliasTargets: (name) => this.aliasTargets(name),
      isUser: async (name) => (await this.account(name)) !== null,
      isLocalDomain: (domain) => this.isLocal(domain),
    });
    if (truncatedAt.length > 0) {
      this.log.warn({ address, aliases: truncatedAt }, `alias expansion of ${address} stopped: nesting deeper than the limit`);
    }
    return recipients;
  }

  async isLocalDomain(domain: string): Promise<boolean> {
    return this.isLocal(domain);
  }

  async close(): Promise<void> {
    this.accounts.clear();
    this.aliasTargetCache.clear();
    this.binds.clear();
    this.verifyCache.clear();
    await this.pool.close();
  }

  private isLocal(domain: string): boolean {
    return this.localDomains.size === 0 || this.localDomains.has(normaliseDomain(domain));
  }

  /** The user's entry (cached), or null. Input that cannot be a login name never reaches the server. */
  private async account(name: string): Promise<LdapAccount | null> {
    const key = name.toLowerCase();
    if (key === '' || key.length > MAX_LOOKUP_LENGTH || /\p{Cc}/u.test(key)) return null;
    const cached = this.accounts.get(key);
    if (cached !== undefined) return cached;
    const found = await this.searchAccount(key);
    this.accounts.set(key, found, found ? this.options.positiveTtlMs : this.options.negativeTtlMs);
    return found;
  }

  private async searchAccount(name: string): Promise<LdapAccount | null> {
    const { attributes: map } = this.options;
    const wanted = [map.login, map.password, ...(map.mailbox ? [map.mailbox] : [])];
    const filter = fillFilter(this.options.userFilter, { u: name });
    const { entries, truncated } = await this.pool.search({ base: this.options.base, filter, attributes: wanted, scope: this.options.scope, sizeLimit: 2 });
    if (truncated || entries.length > 1) {
      this.log.warn({ login: name }, 'LDAP user filter matches several entries; treating the login as unknown');
      return null;
    }
    const entry = entries[0];
    return entry ? this.toAccount(entry, name) : null;
  }

  private toAccount(entry: LdapEntry, requested: string): LdapAccount | null {
    const { attributes: map } = this.options;
    const login = first(entry, map.login)?.toLowerCase();
    const problem = login === undefined ? `no ${map.login} attribute` : localPartProblem(login);
    if (problem !== null) {
      this.log.warn({ dn: entry.dn, login: requested }, `LDAP entry unusable as a mailbox user: ${problem}`);
      return null;
    }
    const secret = first(entry, map.password) ?? null;
    const location = map.mailbox ? first(entry, map.mailbox) : undefined;
    const locationProblem = location === undefined ? null : mailboxLocationProblem(location);
    if (locationProblem !== null) {
      this.log.warn({ dn: entry.dn, location }, `LDAP mailbox location ignored: ${locationProblem}`);
    }
    const user: DirectoryUser = {
      name: login!,
      // In bind mode the password attribute is usually hidden from us: the bind decides.
      canLogin: this.options.auth === 'bind' || secret !== null,
      ...(location !== undefined && locationProblem === null ? { mailbox: location } : {}),
    };
    return { dn: entry.dn, user, secret };
  }

  private async bindAs(dn: string, password: string): Promise<boolean> {
    if (password === '') return false;
    if (this.options.positiveTtlMs <= 0) return this.pool.checkBind(dn, password);
    // Keyed by an HMAC under a per-process random key: no plain hash of a password sits in memory.
    const key = createHmac('sha256', this.bindCacheKey).update(dn).update('\0').update(password).digest('base64');
    if (this.binds.get(key)) return true;
    const ok = await this.pool.checkBind(dn, password);
    if (ok) this.binds.set(key, true, this.options.positiveTtlMs);
    return ok;
  }

  /**
   * What alias `name` (a lower-cased local part) points at, or undefined when it is none.
   * A user's own login wins over attribute aliases, so `mail: alice@...` on alice is not a loop.
   */
  private async aliasTargets(name: string): Promise<readonly string[] | undefined> {
    const cached = this.aliasTargetCache.get(name);
    if (cached !== undefined) return cached ?? undefined;
    const targets = (await this.groupMembers(name)) ?? ((await this.account(name)) ? null : await this.attributeAliasOwners(name));
    this.aliasTargetCache.set(name, targets, targets ? this.options.positiveTtlMs : this.options.negativeTtlMs);
    return targets ?? undefined;
  }

  /** Members of the group or mail-alias entry named `name`; DNs are resolved to logins or group names. */
  private async groupMembers(name: string): Promise<string[] | null> {
    const { groupFilter, memberAttributes, base } = this.options.aliases;
    if (!groupFilter || memberAttributes.length === 0) return null;
    const filter = fillFilter(groupFilter, { u: name });
    const { entries } = await this.pool.search({ base: base ?? this.options.base, filter, attributes: memberAttributes });
    if (entries.length === 0) return null;
    const members = entries.flatMap((entry) => memberAttributes.flatMap((attribute) => entry.attributes.get(attribute.toLowerCase()) ?? []));
    const resolved = await Promise.all(members.map((member) => (looksLikeDn(member) ? this.nameOfDn(member) : member.trim())));
    return resolved.filter((member): member is string => member !== null && member !== '');
  }

  /** A member DN: a user entry becomes its login, a group its cn (expanded in turn by the group filter). */
  private async nameOfDn(dn: string): Promise<string | null> {
    const loginAttribute = this.options.attributes.login;
    const { entries } = await this.pool.search({
      base: dn,
      filter: '(objectClass=*)',
      attributes: [loginAttribute, 'cn'],
      scope: 'base',
      missingBaseIsEmpty: true,
    });
    const entry = entries[0];
    return entry ? ((first(entry, loginAttribute) ?? first(entry, 'cn'))?.toLowerCase() ?? null) : null;
  }

  /** Users carrying `name` (bare or in a local domain) in one of the alias attributes or the mail attribute. */
  private async attributeAliasOwners(name: string): Promise<string[] | null> {
    const { attributes: map, aliases } = this.options;
    const attributes = [...aliases.attributes, ...(map.mail ? [map.mail] : [])];
    const addresses = this.localDomains.size > 0 ? [name, ...[...this.localDomains].map((domain) => `${name}@${domain}`)] : [name];
    const match = anyOf(attributes, addresses);
    if (match === null) return null;
    const filter = `(&${anyValueFilter(this.options.userFilter)}${match})`;
    const { entries } = await this.pool.search({ base: this.options.base, filter, attributes: [map.login], scope: this.options.scope });
    const owners = entries.flatMap((entry) => {
      const login = first(entry, map.login)?.toLowerCase();
      return login !== undefined && localPartProblem(login) === null ? [login] : [];
    });
    return owners.length > 0 ? owners : null;
  }
}

function first(entry: LdapEntry, attribute: string): string | undefined {
  return entry.attributes.get(attribute.toLowerCase())?.[0];
}

/** `uid=alice,ou=people,...`: an attribute=value pair before the first comma, and no '@'. */
function looksLikeDn(value: string): boolean {
  return /^[A-Za-z][A-Za-z0-9-]*=[^,]*,/.test(value.trim()) && !value.includes('@');
}
