/** `mailnode run`: start the node, print where it listens and where mail lives, stop on a signal. */
import type { ConfigOverrides, MailnodeConfig } from '@mailnode/config';
import { TRANSCRIPT, type Transcript } from '@mailnode/logging';
import { Pop3Server, VERSION, type BoundListener } from '@mailnode/pop3-server';
import { Retriever, RETRIEVER_TRANSCRIPT } from '@mailnode/retriever';
import { bootNode, untilSignal } from './boot.ts';

export interface RunOptions {
  readonly configFile?: string;
  readonly overrides: ConfigOverrides;
  /** Where the human-readable summary goes. */
  readonly print: (line: string) => void;
}

export async function runNode(options: RunOptions): Promise<void> {
  const { file, config, log, container, directory, seeded } = await bootNode(options.configFile, options.overrides, { server: true });
  const server = container.resolve(Pop3Server);
  const retriever = container.resolve(Retriever);
  const listeners = config.pop3server.enabled ? await server.start() : [];
  retriever.start();
  printSummary(options.print, { file, listeners, config, seeded });

  const signal = await untilSignal();
  log.info({ signal }, 'shutting down');
  await Promise.all([server.stop(), retriever.stop()]);
  await directory.close();
  await container.resolve<Transcript>(TRANSCRIPT).close();
  await container.resolve<Transcript>(RETRIEVER_TRANSCRIPT).close();
  log.flush();
}

function printSummary(print: (line: string) => void, info: { file: string; listeners: BoundListener[]; config: MailnodeConfig; seeded: string[] }): void {
  const { config } = info;
  print(`mailnode ${VERSION} started (pid ${process.pid})`);
  print(`  config:    ${info.file}`);
  for (const listener of info.listeners) {
    const kind = listener.security === 'implicit' ? 'POP3S (implicit TLS)' : listener.security === 'none' ? 'POP3 (plaintext)' : 'POP3 (STLS offered)';
    print(`  listening: ${listener.address}:${listener.port}  ${kind}`);
  }
  if (info.listeners.length === 0) print('  POP3 server disabled');
  const clients = config.pop3download.clients;
  print(`  retriever: ${clients.length ? `${clients.length} client(s): ${clients.map((client) => client.id).join(', ')}` : 'no clients configured'}`);
  print(`  mail:      ${config.message_store.root}/<user>/Maildir`);
  if (config.directory.type === 'files') print(`  users:     ${config.directory.users}`);
  else print(`  users:     LDAP ${config.directory.urls.join(', ')} (${config.directory.base_dn})`);
  for (const seededFile of info.seeded) print(`  created:   ${seededFile} (demo Directory file)`);
  print(`  state:     ${config.state_dir}`);
  print('Stop with Ctrl-C or SIGTERM.');
}
