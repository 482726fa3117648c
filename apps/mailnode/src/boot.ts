/** What every long-running command does first: config, state dir, logger, container, Directory check. */
import type { DependencyContainer } from 'tsyringe';
import { loadConfig, type ConfigOverrides, type MailnodeConfig } from '@mailnode/config';
import { DIRECTORY, DirectoryUnavailableError, type Directory } from '@mailnode/directory';
import { createLogger, type Logger } from '@mailnode/logging';
import { composeNode } from './compose.ts';
import { defaultConfigPath } from './default-config.ts';
import { prepareStateDir, seedDirectoryFiles } from './state-dir.ts';

export class StartupError extends Error {
  override readonly name = 'StartupError';
}

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
  await checkDirectory(directory, config.directory.type === 'files' ? config.directory.users : 'directory');
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
