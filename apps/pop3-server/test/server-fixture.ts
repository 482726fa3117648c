/** A real Pop3Server on 127.0.0.1 port 0 over a temp Maildir root and users file. */
import 'reflect-metadata';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { container } from 'tsyringe';
import { CONFIG, configSchema, type MailnodeConfig } from '@mailnode/config';
import { DIRECTORY, FileDirectory } from '@mailnode/directory';
import { FileTranscript, LOGGER, NO_TRANSCRIPT, silentLogger, TRANSCRIPT } from '@mailnode/logging';
import { MaildirStore } from '@mailnode/maildir';
import { MESSAGE_STORE } from '@mailnode/message-store';
import { loadTlsMaterial, Pop3Server, TLS_MATERIAL, type BoundListener } from '../src/index.ts';

export const USERS = 'alice:pw-alice\nbob:pw-bob\ncarol:\n';

export interface ServerFixture {
  server: Pop3Server;
  store: MaildirStore;
  listeners: BoundListener[];
  port(security: string): number;
  dir: string;
  certPem: Buffer;
  stop(): Promise<void>;
}

/** `pop3server` settings as in the config file (YAML names), merged over test defaults. */
export async function startServer(pop3server: Record<string, unknown> = {}, options: { transcript?: boolean } = {}): Promise<ServerFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'mailnode-pop3-'));
  const usersFile = join(dir, 'users');
  await writeFile(usersFile, USERS, { mode: 0o600 });
  const config: MailnodeConfig = configSchema.parse({
    state_dir: dir,
    hostname: 'mail.test',
    tls: { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') },
    directory: { type: 'files', users: usersFile, aliases: join(dir, 'aliases'), domains: join(dir, 'domains'), reload_check: '0s' },
    message_store: { root: join(dir, 'mail') },
    pop3server: {
      transcript: options.transcript ? join(dir, 'transcript.log') : undefined,
      limits: { auth_failure_delay: '0s' },
      listeners: [
        { interface: '127.0.0.1', port: 0, ssl: { latent: 'Y' } },
        { interface: '127.0.0.1', port: 0, ssl: { latent: 'N' } },
      ],
      ...pop3server,
    },
  });
  const store = new MaildirStore({ root: config.message_store.root });
  const material = await loadTlsMaterial(config.tls.cert, config.tls.key, { selfSigned: true, hostname: 'localhost' });
  const scope = container.createChildContainer();
  scope.register(CONFIG, { useValue: config });
  scope.register(LOGGER, { useValue: silentLogger() });
  scope.register(DIRECTORY, { useValue: new FileDirectory({ usersFile, reloadCheckMs: 0 }) });
  scope.register(MESSAGE_STORE, { useValue: store });
  scope.register(TRANSCRIPT, { useValue: options.transcript ? new FileTranscript(config.pop3server.transcript!) : NO_TRANSCRIPT });
  scope.register(TLS_MATERIAL, { useValue: material });
  const server = scope.resolve(Pop3Server);
  const listeners = await server.start();
  return {
    server,
    store,
    listeners,
    dir,
    certPem: material.cert,
    port: (security) => listeners.find((listener) => listener.security === security)!.port,
    async stop() {
      await server.stop();
      await scope.resolve<{ close(): Promise<void> }>(TRANSCRIPT).close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
