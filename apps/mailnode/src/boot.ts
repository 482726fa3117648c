/** What every long-running command does first: config, state dir, logger, container, Directory check. */
import type { DependencyContainer } from 'tsyringe';
import { loadConfig, type ConfigOverrides, type MailnodeConfig } from '@mailnode/config';
import { DIRECTORY, DirectoryUnavailableError, type Directory } from '@mailnode/directory';
import { createLogger, type Logger } from '@mailnode/logging';
import { composeNode } from './compose.ts';
import { defaultConfigPath } from './default-config.ts';
import { prepareStateDir, seedDirectoryFiles } from './state-dir.ts';

import { StartupError } from './startup-error.ts';
import { InstanceLock } from './control/instance-lock.ts';

export { StartupError };

export interface BootedNode {
  readonly file: string;
  readonly config: MailnodeConfig;
  readonly log: Logger;
  readonly container: DependencyContainer;
  readonly directory: Directory;
  readonly seeded: string[];
  /** Held by the node (`singleInstance`): the state directory is ours until release(). */
  readonly lock?: InstanceLock;
}

export async function bootNode(
  configFile: string | undefined,
  overrides: ConfigOverrides,
  options: { server: boolean; adjust?: (config: MailnodeConfig) => MailnodeConfig; singleInstance?: boolean },
): Promise<BootedNode> {
  const loaded = loadConfig(configFile ?? defaultConfigPath(), overrides);
  const config = options.adjust ? options.adjust(loaded.config) : loaded.config;
  await prepareStateDir(config);
  // Before anything else touches the state dir (seeding, TLS material, listeners): a second node
  // refuses here with a clear message instead of failing later on a busy port.
  const lock = options.singleInstance ? await InstanceLock.acquire(config.state_dir) : undefined;
  try {
    const seeded = await seedDirectoryFiles(config);
    const log = createLogger({ level: config.logging.level, file: config.logging.file });
    const container = await composeNode(config, log, { server: options.server });
    const directory = container.resolve<Directory>(DIRECTORY);
    if (config.directory.type === 'files') await checkDirectory(directory, config.directory.users);
    else await probeDirectory(directory, log, config.directory.urls.join(' '));
    return { file: loaded.file, config, log, container, directory, seeded, lock };
  } catch (error) {
    lock?.release();
    throw error;
  }
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

/** Resolves on the first SIGINT or SIGTERM, or when `other` resolves first (a `mailnode stop`) with its value. */
export function untilSignal(other?: Promise<string>): Promise<string> {
  return new Promise((resolve) => {
    const done = (reason: string) => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve(reason);
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
    void other?.then(done);
  });
}
