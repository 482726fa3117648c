/**
 * Directory backed by Mailismus-style files (users, aliases, domains), re-read on change.
 */
import type { Stats } from 'node:fs';
import { DirectoryUnavailableError } from './contract.ts';
import type { AuthResult, Credentials, Directory, DirectoryUser } from './contract.ts';
import { parseAliasesFile } from './aliases-file.ts';
import type { AliasTable } from './aliases-file.ts';
import { expandAddress } from './alias-expansion.ts';
import { checkCredentials } from './check-credentials.ts';
import { SILENT_LOG } from './directory-log.ts';
import type { DirectoryLog } from './directory-log.ts';
import { parseDomainsFile } from './domains-file.ts';
import type { DomainSet } from './domains-file.ts';
import { normaliseDomain } from './names.ts';
import { parseUsersFile } from './users-file.ts';
import type { UserEntry, UserTable } from './users-file.ts';
import { DEFAULT_VERIFY_CACHE_SIZE, VerifyCache } from './verify-cache.ts';
import { WatchedFile } from './watched-file.ts';

export interface FileDirectoryOptions {
  /** `username:password` per line; must not be readable or writable by "other". */
  readonly usersFile?: string;
  /** `alias:recipient1:recipient2...` per line. */
  readonly aliasesFile?: string;
  /** One local domain per line; absent or empty means every domain is local. */
  readonly domainsFile?: string;
  /** Minimum interval between checks of the files for changes; default 1000 ms. */
  readonly reloadCheckMs?: number;
  /** Successful slow-hash verifications remembered; default 1000, 0 disables. */
  readonly verifyCacheSize?: number;
  /** Defaults to discarding everything; pass the application's logger. */
  readonly log?: DirectoryLog;
}

export const DEFAULT_RELOAD_CHECK_MS = 1000;

const EMPTY_USERS: UserTable = new Map();
const EMPTY_ALIASES: AliasTable = new Map();
const EMPTY_DOMAINS: DomainSet = new Set();

export class FileDirectory implements Directory {
  private readonly users: WatchedFile<UserTable> | undefined;
  private readonly aliases: WatchedFile<AliasTable> | undefined;
  private readonly domains: WatchedFile<DomainSet> | undefined;
  private readonly cache: VerifyCache;
  private readonly log: DirectoryLog;
  private closed = false;

  constructor(options: FileDirectoryOptions) {
    const reloadCheckMs = options.reloadCheckMs ?? DEFAULT_RELOAD_CHECK_MS;
    this.log = options.log ?? SILENT_LOG;
    this.cache = new VerifyCache(options.verifyCacheSize ?? DEFAULT_VERIFY_CACHE_SIZE);
    const common = { reloadCheckMs, log: this.log };
    this.users =
      options.usersFile === undefined
        ? undefined
        : new WatchedFile({ ...common, path: options.usersFile, kind: 'users', empty: EMPTY_USERS, parse: parseUsersFile, checkFile: refuseOpenToOthers(options.usersFile) });
    this.aliases =
      options.aliasesFile === undefined
        ? undefined
        : new WatchedFile({ ...common, path: options.aliasesFile, kind: 'aliases', empty: EMPTY_ALIASES, parse: parseAliasesFile });
    this.domains =
      options.domainsFile === undefined
        ? undefined
        : new WatchedFile({ ...common, path: options.domainsFile, kind: 'domains', empty: EMPTY_DOMAINS, parse: parseDomainsFile });
  }

  async lookupUser(name: string): Promise<DirectoryUser | null> {
    const entry = (await this.userTable()).get(name.toLowerCase());
    return entry ? toDirectoryUser(entry) : null;
  }

  async authenticate(credentials: Credentials): Promise<AuthResult> {
    const entry = (await this.userTable()).get(credentials.username.toLowerCase());
    const account = entry ? { user: toDirectoryUser(entry), secret: entry.secret } : null;
    return checkCredentials(account, credentials, this.cache);
  }

  async expandAlias(address: string): Promise<string[]> {
    const [users, aliases, domains] = await Promise.all([this.userTable(), this.aliasTable(), this.domainSet()]);
    const { recipients, truncatedAt } = await expandAddress(address, {
      aliasTargets: (name) => aliases.get(name),
      isUser: (name) => users.has(name),
      isLocalDomain: (domain) => isListed(domains, domain),
    });
    if (truncatedAt.length > 0) {
      this.log.warn({ address, aliases: truncatedAt }, `alias expansion of ${address} stopped: nesting deeper than the limit`);
    }
    return recipients;
  }

  async isLocalDomain(domain: string): Promise<boolean> {
    return isListed(await this.domainSet(), domain);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.cache.clear();
  }

  private userTable(): Promise<UserTable> {
    return this.read(this.users, EMPTY_USERS);
  }

  private aliasTable(): Promise<AliasTable> {
    return this.read(this.aliases, EMPTY_ALIASES);
  }

  private domainSet(): Promise<DomainSet> {
    return this.read(this.domains, EMPTY_DOMAINS);
  }

  private async read<T>(file: WatchedFile<T> | undefined, empty: T): Promise<T> {
    if (this.closed) throw new DirectoryUnavailableError('directory is closed');
    return file ? file.current() : empty;
  }
}

function toDirectoryUser(entry: UserEntry): DirectoryUser {
  return { name: entry.name, canLogin: entry.secret !== null };
}

/** An empty list means every domain is local (single-domain installs need no domains file). */
function isListed(domains: DomainSet, domain: string): boolean {
  return domains.size === 0 || domains.has(normaliseDomain(domain));
}

/** The users file holds password hashes (or plaintext): refuse it when "other" may read or write it. */
function refuseOpenToOthers(path: string): (stats: Stats) => string | null {
  return (stats) => {
    if ((stats.mode & 0o007) === 0) return null;
    const mode = (stats.mode & 0o7777).toString(8).padStart(4, '0');
    return `users file ${path} has mode ${mode}, readable or writable by others; refusing it (chmod o-rwx ${path})`;
  };
}
