/** Reads, validates and resolves a config file; every failure is one ConfigError. */
import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { z } from 'zod';
import { ConfigError } from './config-error.ts';
import { parseListenAddress, type ConfigOverrides } from './overrides.ts';
import { configSchema, type MailnodeConfig } from './schema.ts';
import { YamlSource } from './yaml-source.ts';

/** Keys whose values are secrets: a file holding one must not be readable by others. */
const SECRET_KEYS = ['password', 'bind_password'];

export interface LoadedConfig {
  readonly file: string;
  readonly config: MailnodeConfig;
}

export function loadConfig(file: string, overrides: ConfigOverrides = {}): LoadedConfig {
  const path = resolve(file);
  const text = readConfigText(path);
  const parsed = YamlSource.parse(text);
  if ('error' in parsed) throw new ConfigError(path, parsed.line, undefined, `not valid YAML: ${parsed.error}`);
  const { source } = parsed;
  refuseReadableSecrets(path, source);

  const result = configSchema.safeParse(documentValue(path, source));
  if (!result.success) throw describeIssue(path, source, result.error.issues[0]!);
  const config = applyOverrides(path, result.data, overrides);
  return { file: path, config: resolvePaths(path, config, dirname(path), overrides.stateDir) };
}

/** The document as plain values; YAML aliases that cannot be resolved (or expand without bound) are config errors. */
function documentValue(path: string, source: YamlSource): unknown {
  try {
    return source.toJS();
  } catch (error) {
    throw new ConfigError(path, undefined, undefined, `not usable YAML: ${(error as Error).message}`);
  }
}

function readConfigText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError(path, undefined, undefined, code === 'ENOENT' ? 'config file not found' : `cannot read config file (${code})`);
  }
}

function refuseReadableSecrets(path: string, source: YamlSource): void {
  const secrets = SECRET_KEYS.flatMap((key) => source.findKeys(key));
  if (secrets.length === 0) return;
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o004) === 0) return;
  const where = secrets[0]!;
  throw new ConfigError(
    path,
    source.lineOf(where),
    where.join('.'),
    `holds a password but the file is readable by others (mode ${mode.toString(8)}); run chmod 600 on it or keep the password in a file`,
  );
}

function describeIssue(path: string, source: YamlSource, issue: z.core.$ZodIssue): ConfigError {
  const at = issue.path;
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0]!;
    return new ConfigError(path, source.lineOf(at, key), [...at, key].join('.'), 'unknown setting');
  }
  const setting = at.length ? at.join('.') : undefined;
  let problem = issue.message;
  if (issue.code === 'invalid_type') problem = `expected ${issue.expected}`;
  else if (issue.code === 'invalid_value') problem = `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
  else if (issue.code === 'too_small') problem = `must be at least ${issue.minimum}`;
  else if (issue.code === 'too_big') problem = `must be at most ${issue.maximum}`;
  else if (issue.code === 'invalid_union' && at[0] === 'directory' && at.length <= 2) problem = 'expected type: files or type: ldap';
  return new ConfigError(path, source.lineOf(at), setting, problem);
}

function applyOverrides(path: string, config: MailnodeConfig, overrides: ConfigOverrides): MailnodeConfig {
  const out = structuredClone(config);
  if (overrides.usersFile) {
    if (out.directory.type !== 'files') throw new ConfigError(path, undefined, '--users', 'needs directory type files');
    out.directory.users = resolve(overrides.usersFile);
  }
  if (overrides.pop3?.length || overrides.pop3s?.length) {
    const listener = (text: string, flag: string, latent: boolean) => {
      const address = parseListenAddress(text);
      if (!address) throw new ConfigError(path, undefined, flag, `expected ADDR:PORT, got '${text}'`);
      return { ...address, ssl: { latent, mandatory: false } };
    };
    out.pop3server.listeners = [
      ...(overrides.pop3 ?? []).map((text) => listener(text, '--pop3', true)),
      ...(overrides.pop3s ?? []).map((text) => listener(text, '--pop3s', false)),
    ];
  }
  return out;
}

/** `${state_dir}` expansion and config-relative paths, for every path-valued setting. */
function resolvePaths(configFile: string, config: MailnodeConfig, baseDir: string, stateDirOverride?: string): MailnodeConfig {
  if (!stateDirOverride && config.state_dir.includes('${state_dir}')) {
    throw new ConfigError(configFile, undefined, 'state_dir', 'must not refer to ${state_dir} itself');
  }
  const stateDir = stateDirOverride ? resolve(stateDirOverride) : resolve(baseDir, config.state_dir);
  const fix = (value: string): string => {
    const expanded = value.replaceAll('${state_dir}', stateDir);
    return isAbsolute(expanded) ? expanded : resolve(baseDir, expanded);
  };
  const fixOptional = (value: string | undefined) => (value === undefined ? undefined : fix(value));
  const out = structuredClone(config);
  out.state_dir = stateDir;
  out.logging.file = fixOptional(out.logging.file);
  out.control.socket = fix(out.control.socket);
  out.tls.cert = fix(out.tls.cert);
  out.tls.key = fix(out.tls.key);
  out.message_store.root = fix(out.message_store.root);
  const dir = out.directory;
  if (dir.type === 'files') {
    dir.users = fix(dir.users);
    dir.aliases = fix(dir.aliases);
    dir.domains = fix(dir.domains);
    dir.seed_from = fixOptional(dir.seed_from);
  } else {
    dir.tls.ca = fixOptional(dir.tls.ca);
    dir.bind_password_file = fixOptional(dir.bind_password_file);
  }
  out.pop3server.transcript = fixOptional(out.pop3server.transcript);
  const download = out.pop3download;
  download.audit = fixOptional(download.audit);
  download.transcript = fixOptional(download.transcript);
  download.uidl_dir = fix(download.uidl_dir);
  for (const client of download.clients) {
    client.downloads_directory = fixOptional(client.downloads_directory);
    if (client.domainwide) client.domainwide.duds = fix(client.domainwide.duds);
    client.server.password_file = fixOptional(client.server.password_file);
    if (client.ssl) {
      client.ssl.ca = fixOptional(client.ssl.ca);
      client.ssl.cert = fixOptional(client.ssl.cert);
      client.ssl.key = fixOptional(client.ssl.key);
    }
  }
  for (const listener of out.pop3server.listeners) {
    if (!listener.ssl) continue;
    listener.ssl.cert = fixOptional(listener.ssl.cert);
    listener.ssl.key = fixOptional(listener.ssl.key);
    listener.ssl.client_ca = fixOptional(listener.ssl.client_ca);
  }
  return out;
}
