/**
 * `mailnode run`: take the state directory (single-instance lock), start the node, open the
 * control socket, print where it listens and where mail lives, and shut down on a signal or a
 * `mailnode stop`.
 */
import type { ConfigOverrides, MailnodeConfig } from '@mailnode/config';
import { TRANSCRIPT, type Transcript } from '@mailnode/logging';
import { Pop3Server, VERSION, type BoundListener } from '@mailnode/pop3-server';
import { Retriever, RETRIEVER_TRANSCRIPT } from '@mailnode/retriever';
import { bootNode, untilSignal } from './boot.ts';
import { controlHandler } from './control/control-handler.ts';
import { ControlServer } from './control/control-server.ts';
import { checkSocketPath } from './control/socket-path.ts';

export interface RunOptions {
  readonly configFile?: string;
  readonly overrides: ConfigOverrides;
  /** Where the human-readable summary goes. */
  readonly print: (line: string) => void;
}

export async function runNode(options: RunOptions): Promise<void> {
  const { file, config, log, container, directory, seeded, lock } = await bootNode(options.configFile, options.overrides, { server: true, singleInstance: true });
  checkSocketPath(config.control.socket); // before binding anything: a config error, not a half-started node
  const server = container.resolve(Pop3Server);
  const retriever = container.resolve(Retriever);
  let requestStop!: (reason: string) => void;
  const stopRequested = new Promise<string>((resolve) => (requestStop = resolve));
  // Handlers first: once the summary says "Stop with SIGTERM", a SIGTERM must already be a clean
  // stop (a supervisor may send it the moment it reads the summary).
  const stopping = untilSignal(stopRequested);
  const listeners = config.pop3server.enabled ? await server.start() : [];

  const control = new ControlServer({
    path: config.control.socket,
    log,
    handler: controlHandler({ config, retriever, server, requestStop: () => requestStop('mailnode stop') }),
  });
  await control.listen();
  retriever.start();
  printSummary(options.print, { file, listeners, config, seeded, control: control.path });

  const reason = await stopping;
  log.info(reason.startsWith('SIG') ? { signal: reason } : { request: reason }, 'shutting down');
  await control.stopAccepting();
  await Promise.all([server.stop(), retriever.stop()]);
  await control.close();
  await directory.close();
  await container.resolve<Transcript>(TRANSCRIPT).close();
  await container.resolve<Transcript>(RETRIEVER_TRANSCRIPT).close();
  lock?.release();
  log.flush();
}

function printSummary(print: (line: string) => void, info: { file: string; listeners: BoundListener[]; config: MailnodeConfig; seeded: string[]; control: string }): void {
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
  print(`  control:   ${info.control}`);
  print('Stop with Ctrl-C or SIGTERM.');
}
