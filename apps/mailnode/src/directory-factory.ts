/** The Directory named by the config: users files or LDAP. Nothing else in the node knows which. */
import { readFile, stat } from 'node:fs/promises';
import type { FilesDirectoryConfig, LdapDirectoryConfig, MailnodeConfig } from '@mailnode/config';
import { FileDirectory, LdapDirectory, type Directory } from '@mailnode/directory';
import type { Logger } from '@mailnode/logging';
import { StartupError } from './startup-error.ts';

export async function createDirectory(config: MailnodeConfig, log: Logger): Promise<Directory> {
  const settings = config.directory;
  const directoryLog = log.child({ component: 'directory' });
  return settings.type === 'files' ? fileDirectory(settings, directoryLog) : ldapDirectory(settings, directoryLog);
}

function fileDirectory(settings: FilesDirectoryConfig, log: Logger): Directory {
  return new FileDirectory({
    usersFile: settings.users,
    aliasesFile: settings.aliases,
    domainsFile: settings.domains,
    reloadCheckMs: settings.reload_check,
    verifyCacheSize: settings.verify_cache,
    log,
  });
}

async function ldapDirectory(settings: LdapDirectoryConfig, log: Logger): Promise<Directory> {
  const ca = settings.tls.ca === undefined ? undefined : await readSetting(settings.tls.ca, 'directory.tls.ca');
  return new LdapDirectory({
    urls: settings.urls,
    starttls: settings.starttls,
    tls: {
      rejectUnauthorized: settings.tls.verify,
      ...(ca !== undefined ? { ca } : {}),
      ...(settings.tls.servername !== undefined ? { servername: settings.tls.servername } : {}),
    },
    bindDn: settings.bind_dn,
    bindPassword: await bindPassword(settings),
    connectTimeoutMs: settings.connect_timeout,
    timeoutMs: settings.timeout,
    poolSize: settings.pool_size,
    base: settings.base_dn,
    scope: settings.scope,
    userFilter: settings.user_filter,
    attributes: settings.attributes,
    auth: settings.auth,
    aliases: {
      attributes: settings.aliases.attributes,
      base: settings.aliases.base_dn,
      groupFilter: settings.aliases.group_filter,
      memberAttributes: settings.aliases.member_attributes,
    },
    localDomains: settings.local_domains,
    positiveTtlMs: settings.cache.positive_ttl,
    negativeTtlMs: settings.cache.negative_ttl,
    cacheSize: settings.cache.size,
    verifyCacheSize: settings.verify_cache,
    log,
  });
}

/** Inline, from a file (first line; refused when others may read it), or from an environment variable. */
async function bindPassword(settings: LdapDirectoryConfig): Promise<string | undefined> {
  if (settings.bind_password !== undefined) return settings.bind_password;
  if (settings.bind_password_file !== undefined) {
    const path = settings.bind_password_file;
    const { mode } = await stat(path).catch((error: NodeJS.ErrnoException) => {
      throw new StartupError(`directory.bind_password_file ${path}: ${error.code ?? error.message}`);
    });
    if ((mode & 0o004) !== 0) {
      throw new StartupError(`directory.bind_password_file ${path} is readable by others (mode ${(mode & 0o777).toString(8)}); run chmod 600 on it`);
    }
    return (await readSetting(path, 'directory.bind_password_file')).split(/\r?\n/)[0];
  }
  if (settings.bind_password_env !== undefined) {
    const value = process.env[settings.bind_password_env];
    if (value === undefined) throw new StartupError(`directory.bind_password_env: environment variable ${settings.bind_password_env} is not set`);
    return value;
  }
  return undefined;
}

async function readSetting(path: string, setting: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new StartupError(`${setting} ${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? error})`);
  }
}
