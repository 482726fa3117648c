/** What every long-running command does first: config, state dir, logger, container, Directory check. */
import type { DependencyContainer } from 'tsyringe';
import { loadConfig, type ConfigOverrides, type MailnodeConfig } from '@mailnode/config';
import { DIRECTORY, DirectoryUnavailableError, type Directory } from '@mailnode/directory';
import { createLogger, type Logger } from '@mailnode/logging';
import { composeNode } from './compose.ts';
import { defaultConfigPath } from './default-config.ts';
import { prepareStateDir, seedDirectoryFiles } from './state-dir.ts';

import { StartupError } from './startup-error.ts';

export { StartupError };

export interface BootedNode {
  readonly file: string;
  readonly config: MailnodeConfig;
  readonly log: Logger;
  readonly container: DependencyContainer;
  readonly directory: Directory;
  readonly seeded: string[];
}

export async function bootNode(
  configFile: string | undefined,
  overrides: ConfigOverrides,
  options: { server: boolean; adjust?: (config: MailnodeConfig) => MailnodeConfig },
): Promise<BootedNode> {
  const loaded = loadConfig(configFile ?? defaultConfigPath(), overrides);
  const config = options.adjust ? options.adjust(loaded.config) : loaded.config;
  await prepareStateDir(config);
  const seeded = await seedDirectoryFiles(config);
  const log = createLogger({ level: config.logging.level, file: config.logging.file });
  const container = await composeNode(config, log, { server: options.server });
  const directory = container.resolve<Directory>(DIRECTORY);
  if (config.directory.type === 'files') await checkDirectory(directory, config.directory.users);
  else await probeDirectory(directory, log, config.directory.urls.join(' '));
  return { file: loaded.file, config, log, container, directory, seeded };
}

/** A Directory that cannot serve is a startup error, not a stream of [SYS/TEMP] later. */
async function checkDirectory(directory: Directory, where: string): Promise<void> {
  try {
    await directory.lookupUser('postmaster');
  } catch (error) {
    if (error instanceof DirectoryUnavailableError) throw new StartupError(`${where}: ${error.message}`);
    throw error;
  }
}

/**
 * An LDAP server that is down at startup is an outage like any other: the node starts, logins
 * get [SYS/TEMP] and recover when the server does. The probe only makes the problem visible.
 */
async function probeDirectory(directory: Directory, log: Logger, where: string): Promise<void> {
  try {
    await directory.lookupUser('postmaster');
  } catch (error) {
    if (!(error instanceof DirectoryUnavailableError)) throw error;
    log.warn({ urls: where, err: error.message }, 'LDAP directory not reachable at startup; logins fail with [SYS/TEMP] until it is');
  }
}

/** Resolves on the first SIGINT or SIGTERM. */
export function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    const onSignal = (signal: string) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
