/**
 * The composition root: one DI container holding the config, logger, Directory, Message-Store
 * and transcript; the apps are resolved from it.
 */
import 'reflect-metadata';
import { container as rootContainer, type DependencyContainer } from 'tsyringe';
import { hostname as osHostname } from 'node:os';
import { CONFIG, type MailnodeConfig } from '@mailnode/config';
import { DIRECTORY } from '@mailnode/directory';
import { FileTranscript, LOGGER, NO_TRANSCRIPT, TRANSCRIPT, type Logger } from '@mailnode/logging';
import { MaildirStore } from '@mailnode/maildir';
import { MESSAGE_STORE } from '@mailnode/message-store';
import { loadTlsMaterial, Pop3Server, TLS_MATERIAL, type TlsMaterial } from '@mailnode/pop3-server';
import { OWN_LISTENERS, OwnListenerSet, Retriever, RETRIEVER_TRANSCRIPT } from '@mailnode/retriever';
import { createDirectory } from './directory-factory.ts';

/** TLS material is only loaded (or generated) when some listener uses TLS without its own files. */
async function tlsMaterialFor(config: MailnodeConfig, withServer: boolean): Promise<TlsMaterial | null> {
  const needed = withServer && config.pop3server.enabled && config.pop3server.listeners.some((listener) => listener.ssl && !(listener.ssl.cert && listener.ssl.key));
  if (!needed) return null;
  return loadTlsMaterial(config.tls.cert, config.tls.key, { selfSigned: config.tls.self_signed, hostname: config.hostname ?? osHostname() });
}

export async function composeNode(config: MailnodeConfig, log: Logger, options: { server?: boolean } = {}): Promise<DependencyContainer> {
  const container = rootContainer.createChildContainer();
  container.register(CONFIG, { useValue: config });
  container.register(LOGGER, { useValue: log });
  container.register(DIRECTORY, { useValue: await createDirectory(config, log) });
  container.register(MESSAGE_STORE, {
    useValue: new MaildirStore({
      root: config.message_store.root,
      hostname: config.hostname,
      smallMessageBytes: config.message_store.small_message_bytes,
      syncIo: config.message_store.sync_io,
      syncMethod: config.message_store.sync_method,
      log: log.child({ component: 'maildir' }),
    }),
  });
  container.register(TRANSCRIPT, { useValue: config.pop3server.transcript ? new FileTranscript(config.pop3server.transcript) : NO_TRANSCRIPT });
  container.register(TLS_MATERIAL, { useValue: await tlsMaterialFor(config, options.server ?? true) });
  container.register(RETRIEVER_TRANSCRIPT, {
    useValue: config.pop3download.transcript ? new FileTranscript(config.pop3download.transcript) : NO_TRANSCRIPT,
  });
  container.registerSingleton(Pop3Server);
  // The self-poll guard compares remotes with the sockets this node's server actually bound.
  const serverHere = options.server ?? true;
  container.register(OWN_LISTENERS, {
    useValue: OwnListenerSet.fromConfig(config, serverHere ? () => container.resolve(Pop3Server).boundListeners : undefined),
  });
  container.registerSingleton(Retriever);
  return container;
}
