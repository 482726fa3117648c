/** `mailnode run`: start the node, print where it listens and where mail lives, stop on a signal. */
import { loadConfig, type ConfigOverrides } from '@mailnode/config';
import { DIRECTORY, DirectoryUnavailableError, type Directory } from '@mailnode/directory';
import { createLogger, TRANSCRIPT, type Transcript } from '@mailnode/logging';
import { Pop3Server, VERSION, type BoundListener } from '@mailnode/pop3-server';
import { composeNode } from './compose.ts';
import { defaultConfigPath } from './default-config.ts';
import { prepareStateDir, seedDirectoryFiles } from './state-dir.ts';

export interface RunOptions {
  readonly configFile?: string;
  readonly overrides: ConfigOverrides;
  /** Where the human-readable summary goes. */
  readonly print: (line: string) => void;
}

export async function runNode(options: RunOptions): Promise<void> {
  const { config, file } = loadConfig(options.configFile ?? defaultConfigPath(), options.overrides);
  await prepareStateDir(config);
  const seeded = await seedDirectoryFiles(config);
  const log = createLogger({ level: config.logging.level, file: config.logging.file });
  const container = await composeNode(config, log);
  const directory = container.resolve<Directory>(DIRECTORY);
  await checkDirectory(directory, config.directory.users);

  const server = container.resolve(Pop3Server);
  const listeners = config.pop3server.enabled ? await server.start() : [];
  printSummary(options.print, { file, listeners, config, seeded });

  await new Promise<void>((resolve) => {
    const stop = async (signal: string) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      log.info({ signal }, 'shutting down');
      await server.stop();
      await directory.close();
      await container.resolve<Transcript>(TRANSCRIPT).close();
      log.flush();
      resolve();
    };
    const onSignal = (signal: string) => void stop(signal);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/** A users file that cannot serve logins is a startup error, not a stream of [SYS/TEMP] later. */
async function checkDirectory(directory: Directory, usersFile: string): Promise<void> {
  try {
    await directory.lookupUser('postmaster');
  } catch (error) {
    if (error instanceof DirectoryUnavailableError) throw new StartupError(`${usersFile}: ${error.message}`);
    throw error;
  }
}

export class StartupError extends Error {
  override readonly name = 'StartupError';
}

function printSummary(
  print: (line: string) => void,
  info: { file: string; listeners: BoundListener[]; config: ReturnType<typeof loadConfig>['config']; seeded: string[] },
): void {
  const { config } = info;
  print(`mailnode ${VERSION} started (pid ${process.pid})`);
  print(`  config:    ${info.file}`);
  for (const listener of info.listeners) {
    const kind = listener.security === 'implicit' ? 'POP3S (implicit TLS)' : listener.security === 'none' ? 'POP3 (plaintext)' : 'POP3 (STLS offered)';
    print(`  listening: ${listener.address}:${listener.port}  ${kind}`);
  }
  if (info.listeners.length === 0) print('  POP3 server disabled');
  print(`  mail:      ${config.message_store.root}/<user>/Maildir`);
  if (config.directory.type === 'files') print(`  users:     ${config.directory.users}`);
  for (const file of info.seeded) print(`  created:   ${file} (demo Directory file)`);
  print(`  state:     ${config.state_dir}`);
  print('Stop with Ctrl-C or SIGTERM.');
}
