export { parseAuthTypes, AUTH_TYPES, type AuthType } from './authtypes.ts';
export { ConfigError } from './config-error.ts';
export { formatDuration, parseDuration } from './duration.ts';
export { loadConfig, type LoadedConfig } from './loader.ts';
export { parseListenAddress, type ConfigOverrides } from './overrides.ts';
export {
  configSchema,
  retrieverClientSchema,
  type DirectoryConfig,
  type FilesDirectoryConfig,
  type LdapDirectoryConfig,
  type MailnodeConfig,
  type Pop3Limits,
  type Pop3ListenerConfig,
  type Pop3ServerConfig,
  type RetrieverClientConfig,
  type RetrieverConfig,
  type RetrieverLimits,
} from './schema.ts';
export { parseYesNo } from './yes-no.ts';

/** Injection token for the loaded, resolved configuration. */
export const CONFIG = Symbol('MailnodeConfig');
